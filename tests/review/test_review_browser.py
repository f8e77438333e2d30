"""The review app as a person uses it, in a real headless Chromium (Debian's chromium
driven by Playwright) against a real Airflow: sign in, trigger autodp_search from its
form, follow the run's "autodp search" tab to the search page, see the leaderboard and
the chart, approve, find the recipe under the signed-in user; an auditor cannot approve
and an anonymous request is refused; a recipe's page shows its curate runs, their drift and
a chart of each step's share over the runs. Screenshots of each page land in
test-output/review/."""

import shutil
import time

import pytest

from autodp.curate import CurateConfig, Reviewer, approve, curate, recipes
from autodp.ingest import ingest
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.loop import search
from autodp.store import open_store
from tests.conftest import REPO, airflow_client, write_lines
from tests.curate.test_drift import english, french
from tests.dags.test_autodp_search import qa_source

pytestmark = pytest.mark.airflow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking switches Chromium keeps calling hosts this machine cannot reach.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = REPO / "test-output" / "review"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is not installed; run the README's test command (scripts/install-browser.sh)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def sign_in(browser, airflow_services, user):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(airflow_services["url"] + "/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(airflow_services["passwords"][user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(airflow_services["url"] + "/")
    return page


def param_input(page, param):
    """The trigger form's input for a DAG Param (Airflow names each one element_<param>)."""
    return page.locator(f"input[name=element_{param}]")


def choose(page, param, option):
    """Pick ``option`` in the trigger form's select for ``param``."""
    field = page.locator("[data-part=root]", has=param_input(page, param)).last
    field.get_by_role("combobox").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_reviewer_triggers_a_search_and_approves_it_in_the_browser(browser, airflow_services, tmp_path):
    url, admin = airflow_services["url"], airflow_client(airflow_services)
    source = qa_source(tmp_path)
    wait_for(lambda: admin.get("/api/v2/dags/autodp_search").status_code == 200, 240, "autodp_search parsed")

    page = sign_in(browser, airflow_services, "reviewer")
    page.goto(f"{url}/dags/autodp_search")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    param_input(page, "source").fill(str(source))
    page.screenshot(path=SHOTS / "1-trigger-form.png", full_page=True)
    # The form opens with the source Params; each other section opens on its own.
    dialog.get_by_role("button", name="Search budget").click()
    choose(page, "method", "random")
    sections = {"Search budget": (("iterations", "1"), ("candidates", "2"), ("sample_size", "30")),
                "Models": (("model", "tiny"), ("lora_steps", "3")),
                "Evaluation": (("eval_size", "6"), ("confirm_top", "1"), ("confirm_seeds", "2"), ("confirm_steps", "2"),
                               ("confirm_size", "4"))}
    for section, values in sections.items():
        if not param_input(page, values[0][0]).is_visible():
            dialog.get_by_role("button", name=section).click()
        for param, value in values:
            param_input(page, param).fill(value)
    page.screenshot(path=SHOTS / "1b-trigger-form-evaluation.png", full_page=True)
    dialog.get_by_role("button", name="Trigger").last.click()

    run = wait_for(lambda: _run_of(admin, str(source)), 120, "the triggered run")
    run_id = run["dag_run_id"]
    assert run["conf"]["method"] == "random" and run["conf"]["iterations"] == 1

    def succeeded():
        state = admin.get(f"/api/v2/dags/autodp_search/dagRuns/{run_id}").json()["state"]
        assert state != "failed", f"run {run_id} failed"
        return state == "success"

    wait_for(succeeded, 900, f"run {run_id} to succeed")

    page.goto(f"{url}/dags/autodp_search/runs/{run_id}")
    page.get_by_role("link", name="autodp search", exact=True).click()
    frame = page.frame_locator("iframe")
    frame.locator("#leaderboard tbody tr").first.wait_for()
    frame.locator("#iterations-chart[data-rendered=true]").wait_for()
    drawn = frame.locator("#iterations-chart").evaluate(
        "c => ({points: Chart.getChart(c).data.datasets[2].data.length,"
        " inked: c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v !== 0)})")
    assert drawn == {"points": 1, "inked": True}
    assert frame.locator("#leaderboard tbody tr").count() == 2
    headers = frame.locator("#leaderboard thead th").all_inner_texts()  # no column left empty by the flow signal
    assert "Search score vs raw [95% CI]" in headers and not {"ΔNLL [95% CI]", "LLM judge"} & set(headers)
    assert frame.locator("#review-status").inner_text() == "pending"
    page.screenshot(path=SHOTS / "2-run-tab-search-page.png", full_page=True)

    search_url = page.frame_locator("iframe").locator("body").evaluate("() => location.href")
    page.goto(search_url)
    assert page.locator("#confirmation").inner_text().startswith("Confirmed against raw: ")
    assert page.locator("#confirmed tbody tr").count() == 1
    page.screenshot(path=SHOTS / "3-search-page.png", full_page=True)
    page.goto(search_url.replace("/searches/", "/datasets/"))
    page.locator("#lineage tbody tr").first.wait_for()
    assert page.locator("#no-examples").is_visible()
    page.screenshot(path=SHOTS / "4-dataset-page.png", full_page=True)

    auditor = sign_in(browser, airflow_services, "auditor")
    auditor.goto(search_url)
    assert auditor.locator("#cannot-decide").is_visible() and auditor.locator("#approve-form").count() == 0
    auditor.screenshot(path=SHOTS / "5-auditor-cannot-approve.png", full_page=True)
    refused = auditor.request.post(search_url + "/approve", form={"name": "asthma-audit", "reason": "looks fine"})
    assert refused.status == 403

    page.goto(search_url)
    page.locator("#approve-form input[name=name]").fill("asthma-ui")
    page.locator("#approve-form input[name=reason]").fill("beats raw on the held-out split")
    page.locator("#approve-form summary").click()
    page.locator("#approve-form select[name=drift_policy]").select_option("fail")
    page.locator("#approve-form input[name=max_language_share_change]").fill("0.2")
    page.locator("#approve-form button").click()
    page.wait_for_url(f"{url}/autodp/recipes/asthma-ui")
    assert page.locator(".approved-by").inner_text() == "reviewer"
    assert "(fail policy)" in page.locator("#drift-rules").inner_text()
    assert "language's share ±0.2" in page.locator("#drift-rules").inner_text()
    page.goto(f"{url}/autodp/recipes")
    recipe = page.locator("#recipe-asthma-ui")
    assert "airflow" in recipe.inner_text() and "beats raw on the held-out split" in recipe.inner_text()
    page.screenshot(path=SHOTS / "6-recipes-page.png", full_page=True)
    page.goto(f"{url}/autodp/log")
    page.screenshot(path=SHOTS / "7-governance-log.png", full_page=True)

    store = open_store(airflow_services["store_uri"])
    [approved] = [r for r in recipes(store) if r["name"].startswith("asthma")]
    assert (approved["name"], approved["approved_by"], approved["approved_via"]) == ("asthma-ui", "reviewer", "airflow")
    assert (approved["drift"]["policy"], approved["drift"]["max_language_share_change"]) == ("fail", 0.2)

    anonymous = browser.new_context().new_page()
    assert anonymous.goto(search_url).status == 401
    page.context.close()
    auditor.context.close()


def test_a_recipe_page_shows_its_curate_runs_their_drift_and_a_chart(browser, airflow_services, tmp_path):
    store = open_store(airflow_services["store_uri"])
    dataset = ingest(str(write_lines(tmp_path / "found.jsonl", english(60))), store)["dataset_key"]
    config = SearchConfig(iterations=1, candidates=1, method="random", base="tiny", sample_size=30, eval_size=6,
                          operators=("language_filter",), lora=LoraSettings(steps=1, batch_size=4), confirm_top=0)
    published = search(dataset, store, config)["published_key"]
    approve(store, published, "gout-weekly", Reviewer("alice", "cli"), "English only")
    for name, lines in (("week-1.jsonl", english(40, start=100)),
                        ("week-2.jsonl", english(24, start=200) + french(16))):
        curate(store, CurateConfig("gout-weekly", str(write_lines(tmp_path / name, lines))))

    page = sign_in(browser, airflow_services, "auditor")
    page.goto(f"{airflow_services['url']}/autodp/recipes/gout-weekly")
    page.locator("#drift-chart[data-rendered=true]").wait_for()
    shares = page.locator("#drift-chart").evaluate(
        "c => Chart.getChart(c).data.datasets.map(d => [d.label, d.data])")
    assert shares == [["step 1 language_filter", [0.0, 0.4]], ["step 1 language_filter (approved search)", [0.0, 0.0]]]
    rows = page.locator("#curate-runs tbody tr")
    assert rows.count() == 2
    assert "week-2.jsonl" in rows.first.inner_text() and "within range" in rows.last.inner_text()
    assert "step 1 language_filter share against the approved search: expected 0.0-0.1, observed 0.4" \
        in rows.first.locator(".breaches").inner_text()
    page.screenshot(path=SHOTS / "8-recipe-page.png", full_page=True)
    page.context.close()


def _run_of(client, source):
    runs = client.get("/api/v2/dags/autodp_search/dagRuns", params={"order_by": "-run_after"}).json()["dag_runs"]
    return next((r for r in runs if (r.get("conf") or {}).get("source") == source), None)


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(3)
    return found
