"""The review app's routes through the real api-server: every route needs an
authenticated Airflow user, deciding needs edit permission on the DAG, unknown or malformed
keys are 404s, decisions land in the governance log under the signed-in user, and record
text appears only when the deployment's policy allows it."""

import re

import httpx
import pytest

from autodp.artifacts import DATA_CARD_FILE, PUBLISHED
from autodp.curate import decisions, recipes
from autodp.ingest import ingest
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.loop import search
from autodp.store import open_store
from tests.conftest import airflow_client, record, write_lines

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def published(airflow_services, tmp_path_factory):
    """A search published into the store the review app reads; its data holds an e-mail address."""
    store = open_store(airflow_services["store_uri"])
    lines = [record(f"Question {i} about gout?", output="" if i % 7 == 0 else
                    f"Gout answer {i}: rest, fluids; write to nurse{i}@clinic.example.org.") for i in range(50)]
    source = write_lines(tmp_path_factory.mktemp("review-data") / "gout.jsonl", lines)
    key = ingest(str(source), store)["dataset_key"]
    config = SearchConfig(iterations=2, candidates=2, method="random", base="tiny", sample_size=30, eval_size=6,
                          operators=("drop_empty_output", "normalize_text", "length_bounds"),
                          lora=LoraSettings(steps=2, batch_size=4), confirm_top=1, confirm_seeds=2, confirm_size=4,
                          confirm_lora=LoraSettings(steps=2, batch_size=4, max_length=64))
    return search(key, store, config)["published_key"]


def test_every_route_needs_an_authenticated_airflow_user(airflow_services, published):
    url = airflow_services["url"]
    for path in ("/autodp/", f"/autodp/searches/{published}", f"/autodp/datasets/{published}", "/autodp/recipes",
                 "/autodp/log", "/autodp/static/chart.umd.js", "/autodp/runs/autodp_search/x"):
        assert httpx.get(url + path).status_code == 401, path
        assert httpx.get(url + path, headers={"Authorization": "Bearer not-a-token"}).status_code == 403, path
    refused = httpx.post(f"{url}/autodp/searches/{published}/approve", data={"name": "x", "reason": "y"})
    assert refused.status_code == 401


def test_deciding_needs_edit_permission_on_the_dag(airflow_services, published):
    auditor = airflow_client(airflow_services, "auditor")
    page = auditor.get(f"/autodp/searches/{published}")
    assert page.status_code == 200 and 'id="cannot-decide"' in page.text and "approve-form" not in page.text
    for path, form in ((f"/autodp/searches/{published}/approve", {"name": "gout", "reason": "fine"}),
                       (f"/autodp/searches/{published}/reject", {"reason": "no"}),
                       ("/autodp/recipes/gout/retire", {"reason": "old"})):
        assert auditor.post(path, data=form).status_code == 403, path
    assert decisions(open_store(airflow_services["store_uri"]), published) == []


def test_unknown_and_malformed_keys_are_404s(airflow_services):
    reviewer = airflow_client(airflow_services, "reviewer")
    for path in ("/autodp/searches/" + "0" * 32, "/autodp/searches/nothex", "/autodp/datasets/" + "f" * 32,
                 "/autodp/searches/..%2F..%2Fetc", "/autodp/runs/autodp_search/no-such-run",
                 "/autodp/static/review.py"):
        response = reviewer.get(path)
        assert response.status_code == 404, path
        assert "Traceback" not in response.text
    assert reviewer.post("/autodp/recipes/no-such-recipe/retire", data={"reason": "x"}).status_code == 404
    assert reviewer.post("/autodp/searches/" + "0" * 32 + "/reject", data={"reason": "x"}).status_code == 404


def test_search_and_dataset_pages_show_aggregates_and_no_record_text(airflow_services, published):
    reviewer = airflow_client(airflow_services, "reviewer")
    listing = reviewer.get("/autodp/").text
    assert published in listing and "gout.jsonl" in listing and "pending" in listing
    page = reviewer.get(f"/autodp/searches/{published}").text
    assert len(re.findall(r"<tr(?: class=\"best\")?>\s*<td>\d+</td>", page)) == 4  # 2 iterations x 2 candidates
    assert 'id="iterations-chart"' in page and "random" in page
    assert "Flagged removed (unflagged dropped)" in page and re.search(r"<td>\d+/\d+ \(\d+\)</td>", page)
    assert "<th>ΔNLL [95% CI]</th>" not in page and "<th>LLM judge</th>" not in page  # the flow signal has neither
    card = open_store(airflow_services["store_uri"]).read_json(PUBLISHED, published, DATA_CARD_FILE)
    assert ('id="selection"' in page) == (card["search"]["selection"]["rule"] != "best_score")
    verdict = card["confirmation"]["verdict"]  # both verdicts: the search's win rate, and the confirmation's
    assert f"Confirmed against raw: <b>{verdict}</b>" in page and verdict in listing
    assert len(re.findall(r'<table id="confirmed">.*?<tbody>\s*<tr>', page, re.S)) == 1
    # 50 rows, 10 held out, 30 sampled: too few outside the sample for a draw of its own.
    assert ("The top candidate and raw were each fine-tuned on 40 rows of the input, the search sample included, "
            "since too few lie outside it (raw as drawn, a candidate as its strategy leaves them) with") in page
    # a float32 budget names no autocast; drawn by content, the arms share their rows
    assert "(LoRA 2 steps × batch 4 × 64 tokens, the arms drawing the same rows wherever both hold them (common random numbers))" in page
    dataset = reviewer.get(f"/autodp/datasets/{published}").text
    assert 'id="lineage"' in dataset and "empty_output" in dataset and 'id="no-examples"' in dataset
    for shown in (listing, page, dataset):
        assert "Gout answer" not in shown and "clinic.example.org" not in shown and "Question 1 " not in shown


def test_a_rejected_search_cannot_become_a_recipe(airflow_services, published):
    reviewer = airflow_client(airflow_services, "reviewer")
    blank = reviewer.post(f"/autodp/searches/{published}/reject", data={"reason": "  "}, follow_redirects=False)
    assert blank.status_code == 303 and "error=" in blank.headers["location"]
    rejected = reviewer.post(f"/autodp/searches/{published}/reject", data={"reason": "drops too little"},
                             follow_redirects=True)
    assert rejected.status_code == 200 and 'id="review-status">rejected' in rejected.text
    approved = reviewer.post(f"/autodp/searches/{published}/approve", data={"name": "gout", "reason": "fine"},
                             follow_redirects=True)
    assert "was rejected by reviewer" in approved.text and "cannot become a recipe" in approved.text
    store = open_store(airflow_services["store_uri"])
    assert [r for r in recipes(store) if r["published_key"] == published] == []
    [decision] = decisions(store, published)
    assert (decision["action"], decision["by"], decision["via"]) == ("reject", "reviewer", "airflow")


def test_a_form_sent_on_the_session_cookie_needs_the_token_of_that_session(airflow_services, published):
    services, store = airflow_services["services"], open_store(airflow_services["store_uri"])

    def browser(user):  # signed in the way a browser is: the session cookie, no explicit credential
        token = services.token(user, airflow_services["passwords"][user])
        return httpx.Client(base_url=services.url, cookies={"_token": token}, timeout=30)

    reviewer, admin = browser("reviewer"), browser("admin")
    token = re.search(r'<meta name="form-token" content="([0-9a-f]{64})">', reviewer.get("/autodp/").text).group(1)
    before = decisions(store, published)

    from_another_site = reviewer.post(f"/autodp/searches/{published}/reject", data={"reason": "forged"})
    assert from_another_site.status_code == 403 and "Nothing was recorded" in from_another_site.text
    admin.get("/autodp/")  # the admin's own browser session
    replayed = admin.post(f"/autodp/searches/{published}/approve",
                          data={"name": "forged", "reason": "replayed", "form_token": token})
    assert replayed.status_code == 403
    assert reviewer.post(f"/autodp/searches/{published}/reject",
                         data={"reason": "stale", "form_token": "0" * 64}).status_code == 403
    assert decisions(store, published) == before and "forged" not in {r["name"] for r in recipes(store)}

    # the page's own token passes the check (and the unknown recipe is then a 404, nothing recorded)
    assert reviewer.post("/autodp/recipes/no-such-recipe/retire",
                         data={"reason": "old", "form_token": token}).status_code == 404
