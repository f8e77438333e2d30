"""The autodp command as a user runs it: a real process, its output and exit code."""

import json
import re
import subprocess
import sys
from pathlib import Path

from autodp.search.value_judge import SIGNAL
from tests.conftest import record, write_lines

AUTODP = str(Path(sys.executable).parent / "autodp")


def run(*args, store):
    return subprocess.run([AUTODP, *args, "--store", str(store)], capture_output=True, text=True, timeout=300)


def test_ingest_json_then_profile(tmp_path):
    source = write_lines(tmp_path / "d.jsonl", [record(), "not json", record("Other", output="")])
    done = run("ingest", str(source), "--json", store=tmp_path / "store")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {k: summary[k] for k in ("rows_in", "rows_kept", "rows_quarantined", "quarantine_reasons")} == {
        "rows_in": 3, "rows_kept": 2, "rows_quarantined": 1, "quarantine_reasons": {"malformed_json": 1}}
    assert len(summary["dataset_key"]) == 32

    shown = run("profile", summary["dataset_key"], "--json", store=tmp_path / "store")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["fields"]["output"]["empty_count"] == 1


def test_human_output_names_the_reasons(tmp_path):
    source = write_lines(tmp_path / "d.jsonl", [record(), "[1]"])
    done = run("ingest", str(source), store=tmp_path / "store")
    assert done.returncode == 0
    assert "2 rows in = 1 kept + 1 quarantined" in done.stdout
    assert "not_an_object" in done.stdout


def test_unreadable_file_is_one_clear_error(tmp_path):
    source = tmp_path / "broken.json"
    source.write_text('[{"instruction": "a", "output": "b"}, {')
    done = run("ingest", str(source), store=tmp_path / "store")
    assert done.returncode == 2
    assert done.stderr.startswith(f"autodp: error: {source}: not valid JSON at line 1 column")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.parquet"))


def test_unknown_dataset_key(tmp_path):
    done = run("profile", "0" * 32, store=tmp_path / "store")
    assert done.returncode == 2
    assert "no datasets artifact" in done.stderr


def test_demo_data_too_small_to_hold_its_planted_lines_is_refused(tmp_path):
    done = subprocess.run([AUTODP, "demo-data", str(tmp_path / "demo.jsonl"), "--rows", "20"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "at least 50 rows" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "demo.jsonl").exists()
    made = subprocess.run([sys.executable, "-m", "autodp.cli", "demo-data", str(tmp_path / "demo.jsonl"), "--rows",
                           "50"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0 and len((tmp_path / "demo.jsonl").read_text().splitlines()) >= 50


def test_operators_and_apply(tmp_path):
    listing = subprocess.run([AUTODP, "operators", "--json"], capture_output=True, text=True, timeout=120)
    catalogue = json.loads(listing.stdout)
    assert {"drop_empty_output", "exact_dedup"} <= {o["name"] for o in catalogue["operators"]}
    assert catalogue["strategy_schema"]["required"] == ["steps"]

    source = write_lines(tmp_path / "d.jsonl", [record(), record(), record("Empty", output="")])
    key = json.loads(run("ingest", str(source), "--json", store=tmp_path / "store").stdout)["dataset_key"]
    strategy = tmp_path / "s.yaml"
    strategy.write_text("steps: [drop_empty_output, exact_dedup]\n")
    applied = [json.loads(run("apply", key, "--strategy", str(strategy), "--json", store=tmp_path / "store").stdout)
               for _ in range(2)]
    assert [a["cache_hits"] for a in applied] == [0, 2]
    assert applied[0]["rows_out"] == 1
    assert applied[0]["steps"][1]["dropped"] == {"exact_duplicate": 1}

    strategy.write_text("steps: [drop_empty_outptu]\n")
    refused = run("apply", key, "--strategy", str(strategy), store=tmp_path / "store")
    assert refused.returncode == 2
    assert "unknown operator 'drop_empty_outptu' (did you mean 'drop_empty_output'?)" in refused.stderr


def test_the_main_job_runs_the_search_through_airflow(tmp_path):
    """`autodp run` (what `make run` calls) runs autodp_search under `airflow dags test`,
    shows each task as it finishes, and prints the leaderboard and where things are."""
    lines = [record(f"Question {i} about gout?", output="" if i % 5 == 0 else f"Answer {i % 4}: rest.")
             for i in range(40)]
    source = write_lines(tmp_path / "qa.jsonl", lines)
    done = subprocess.run([AUTODP, "run", str(source), "--store", str(tmp_path / "store"), "--method", "random",
                           "--model", "tiny", "--iterations", "1", "--candidates", "2", "--steps", "2",
                           "--sample-size", "20", "--eval-size", "4", "--confirm-top", "1", "--confirm-seeds", "2",
                           "--confirm-steps", "2", "--confirm-size", "4"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "iteration_1.evaluate[1]" in done.stdout and "publish" in done.stdout
    assert f"scored by {SIGNAL} against the raw sample" in done.stdout and "data card: " in done.stdout
    assert "confirm" in done.stdout.split("iteration_1.reflect")[1]
    assert re.search(r"published strategy: (better than raw|not shown better than raw|worse than raw) \(confirmation: "
                     r"2 seeds per arm at LoRA 2 steps x batch 4 x 128 tokens, trained and scored under bfloat16 autocast, "
                     r"the arms drawing the same rows wherever both hold them \(common random numbers\), "
                     r"on \d+ rows of the input, the search sample included, since too few lie outside it \(raw as "
                     r"drawn, a candidate as its strategy leaves them\), 4 examples", done.stdout), done.stdout[-2000:]
    card = done.stdout.split("data card: ")[1].split(";")[0]
    assert Path(card).is_file() and Path(card).read_text().startswith("# Data card")


def test_compare_says_which_dataset_is_preferred_and_stores_the_features(tmp_path):
    topics = ["asthma", "gout", "eczema", "anemia", "migraine", "psoriasis", "glaucoma", "sciatica"]
    clean = [record(f"What is {t}?", output=f"{t.capitalize()} is a condition that a doctor can diagnose and treat.")
             for t in topics]
    damaged = clean[:4] + [record(f"What is {t}?", output="") for t in topics[4:]]
    references = [record(f"How is {t} treated?", output=f"{t.capitalize()} is treated by a doctor.") for t in topics[:4]]
    a = write_lines(tmp_path / "a.jsonl", clean)
    b = write_lines(tmp_path / "b.jsonl", damaged)
    refs = write_lines(tmp_path / "refs.jsonl", references)
    store = tmp_path / "store"

    same = run("compare", str(a), str(a), "--eval", str(refs), "--model", "tiny", "--json", store=store)
    assert same.returncode == 0, same.stderr
    result = json.loads(same.stdout)
    assert (result["preferred"], result["difference"], result["ci95"]) == ("neither", 0.0, [0.0, 0.0])
    assert result["signal"] == SIGNAL and result["references"]["source"] == "trusted_set"
    assert result["rows"] == {"a": {"compared": 8, "total": 8}, "b": {"compared": 8, "total": 8}}
    assert result["features_computed"] == 12  # 8 records and 4 references, each once
    assert result["cosine"] == {"signal": "gradient_cosine", "preferred": "neither", "difference": 0.0,
                                "ci95": [0.0, 0.0]}

    done = run("compare", str(a), str(b), "--eval", str(refs), "--model", "tiny", "--json", store=store)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    low, high = result["ci95"]
    assert low <= result["difference"] <= high
    assert result["preferred"] == ("a" if low > 0 else "b" if high < 0 else "neither")
    assert result["features_computed"] == 4  # only B's four empty answers are new
    assert result["size_warning"] is None and result["distinct_records"] == {"a": 8, "b": 8}
    again = run("compare", str(a), str(b), "--eval", str(refs), "--model", "tiny", store=store)
    assert again.returncode == 0, again.stderr
    assert f"preferred: {result['preferred']}" in again.stdout and "0 records' gradients computed" in again.stdout

    smaller = write_lines(tmp_path / "smaller.jsonl", clean[:2])
    cut = run("compare", str(a), str(smaller), "--eval", str(refs), "--model", "tiny", store=store)
    assert cut.returncode == 0, cut.stderr
    assert "warning" not in cut.stdout  # both compared whole: the flow form counts every record
    flow = re.search(re.escape(SIGNAL) + r" on 4 trusted set references: A - B ([+-][0-9.]+) \[([+-][0-9.]+), "
                     r"([+-][0-9.]+)\]", cut.stdout)
    assert flow, cut.stdout
    assert float(flow[1]) > 0  # two of the eight records, learned early, move the model less than all eight
    capped = run("compare", str(a), str(smaller), "--eval", str(refs), "--model", "tiny", "--max-rows", "2",
                 "--json", store=store)
    assert json.loads(capped.stdout)["size_warning"].startswith("A has 8 distinct records and B 2, but at most 2")

    unknown = run("compare", str(a), "no-such-key", "--eval", str(refs), "--model", "tiny", store=store)
    assert unknown.returncode == 2 and "no-such-key" in unknown.stderr
