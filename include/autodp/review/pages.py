"""What the review pages show, read from the store: plain data for the templates.

Every function takes the store and keys that the app has already checked against
``KEY_PATTERN``; none of them reads a record except ``record_examples``, which the app calls
only when the deployment's policy allows it, and which redacts personal identifiers first.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePath
from typing import Any

from autodp.artifacts import (
    AUDIT_FILE,
    CURATED,
    DATA_CARD_FILE,
    DATA_CARD_MARKDOWN_FILE,
    DATASETS,
    PUBLISHED,
    RECORDS_FILE,
    RESULT_FILE,
    VALIDATION_FILE,
)
from autodp.curate import decisions, recipes, review_status
from autodp.curate.decisions import status_of
from autodp.curate.drift import DriftRules, breach_line, search_figures, step_name
from autodp.search.confirmation import NOT_CONFIRMED
from autodp.search.data_card import selection_text
from autodp.store import ArtifactNotFound, ArtifactStore

KEY_PATTERN = re.compile(r"[0-9a-f]{32}")


def checked_key(store: ArtifactStore, kind: str, key: str) -> str:
    """``key`` when it names a published artifact of ``kind``; ArtifactNotFound otherwise."""
    if not KEY_PATTERN.fullmatch(key) or not store.has(kind, key):
        raise ArtifactNotFound(f"no {kind} artifact {key!r}")
    return key


def searches(store: ArtifactStore) -> list[dict[str, Any]]:
    """Every published search, newest first."""
    logs: dict[str, list[dict[str, Any]]] = {}
    for decision in decisions(store):
        logs.setdefault(decision["published_key"], []).append(decision)
    found = []
    for key in store.artifacts(PUBLISHED):
        manifest = store.manifest(PUBLISHED, key)
        card = store.read_json(PUBLISHED, key, DATA_CARD_FILE)
        config = manifest["provenance"].get("config", {})
        score = card["score"]
        found.append({"key": key, "created_at": manifest["created_at"], "dataset": _source_name(store, card),
                      "input_dataset_key": card["input_dataset_key"], "method": card["search"]["method"],
                      "base_model": config.get("base") or score.get("base_model"),
                      "review": status_of(logs.get(key, []))["status"], "win_rate": score["win_rate"],
                      "score": score["score"], "judge": score["judge"], "ci95": score["ci95"], "rows": card["rows"],
                      "verdict": (card.get("confirmation") or {}).get("verdict", NOT_CONFIRMED),
                      "strategy": [step["operator"] for step in card["strategy"]]})
    return sorted(found, key=lambda s: (s["created_at"], s["key"]), reverse=True)


def search(store: ArtifactStore, key: str) -> dict[str, Any]:
    result = store.read_json(PUBLISHED, key, RESULT_FILE)
    card = result["data_card"]
    manifest = store.manifest(PUBLISHED, key)
    leaderboard = result["leaderboard"]
    best_steps = [step["operator"] for step in result["best"]["steps"]]
    for rank, entry in enumerate(leaderboard, 1):
        entry["rank"] = rank
        entry["operators"] = [step["operator"] for step in entry["steps"]]
        entry["diff"] = step_diff(best_steps, entry["operators"])
        entry["is_best"] = entry["strategy_key"] == result["best"]["strategy_key"]
    selection = card["search"].get("selection")
    explained = selection is not None and selection["rule"] != "best_score"
    return {"key": key, "created_at": manifest["created_at"], "dataset": _source_name(store, card), "card": card,
            "config": manifest["provenance"].get("config", {}), "leaderboard": leaderboard,
            "best": result["best"], "best_operators": best_steps,
            "selection_note": selection_text(selection) if explained else None,
            "confirmation": card.get("confirmation") or {"verdict": NOT_CONFIRMED, "reason": "published before "
                                                                      "confirmation existed"}, "by_iteration": best_by_iteration(leaderboard),
            "audit": audit_log(store, key), "review": review_status(store, key),
            "recipes": [r for r in recipes(store) if r["published_key"] == key]}


def score_text(score: dict[str, Any]) -> str:
    """A search's or a candidate's score as the pages show it: by the reference judge its win
    rate against raw and that interval; by the gradient-flow signal its value against raw."""
    low, high = score["ci95"]
    if score.get("win_rate") is None:
        signal = score.get("judge") or (score.get("value") or {}).get("signal", "value")
        return f"{signal} {score['score']:+.5f} [{low:+.5f}, {high:+.5f}]"
    return f"win rate {score['win_rate']:.3f} [{low:.2f}, {high:.2f}]"


def best_by_iteration(leaderboard: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The best score found up to each iteration, with its interval (the win rate's, by the
    reference judge: its win rate goes with it; the score's, by the gradient-flow signal)."""
    points, best = [], None
    for iteration in sorted({entry["iteration"] for entry in leaderboard}):
        this = max((e for e in leaderboard if e["iteration"] == iteration), key=lambda e: e["score"])
        if best is None or this["score"] > best["score"]:
            best = this
        points.append({"iteration": iteration, "score": best["score"], "win_rate": best.get("win_rate"),
                       "ci95": best["ci95"], "operators": [s["operator"] for s in best["steps"]],
                       "iteration_best_win_rate": this.get("win_rate")})
    return points


def step_diff(best: list[str], other: list[str]) -> list[dict[str, str]]:
    """The other strategy's steps against the best's: kept, added (+) and missing (-)."""
    from difflib import SequenceMatcher

    rows = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=best, b=other, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [{"op": " ", "operator": name} for name in best[i1:i2]]
            continue
        rows += [{"op": "-", "operator": name} for name in best[i1:i2]]
        rows += [{"op": "+", "operator": name} for name in other[j1:j2]]
    return rows


def audit_log(store: ArtifactStore, key: str) -> list[dict[str, Any]]:
    """Each agent call exactly as sent: the messages and what came back."""
    text = store.read_bytes(store.artifact_path(PUBLISHED, key, AUDIT_FILE)).decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def dataset(store: ArtifactStore, key: str) -> dict[str, Any]:
    """A published search's dataset: its data card, reasons, lineage and curate runs."""
    card = store.read_json(PUBLISHED, key, DATA_CARD_FILE)
    markdown = store.read_bytes(store.artifact_path(PUBLISHED, key, DATA_CARD_MARKDOWN_FILE)).decode()
    reasons = [{"operator": op, "reason": reason, "rows": rows, "kind": "dropped"}
               for op, counts in card["drop_reasons"].items() for reason, rows in counts.items()]
    reasons += [{"operator": op, "reason": reason, "rows": rows, "kind": "changed"}
                for op, counts in card.get("changes", {}).items() for reason, rows in counts.items()]
    runs = curated_runs(store)
    return {"key": key, "card": card, "markdown": markdown, "reasons": reasons,
            "lineage": lineage(store, card["output_dataset_key"]), "review": review_status(store, key),
            "curated": [run for r in recipes(store) if r["published_key"] == key
                        for run in runs.get(r["recipe_key"], [])]}


def lineage(store: ArtifactStore, dataset_key: str) -> list[dict[str, Any]]:
    """From the ingested input through each applied step to ``dataset_key``."""
    chain, key = [], dataset_key
    while key:
        manifest = store.manifest(DATASETS, key)
        provenance, summary = manifest["provenance"], manifest.get("summary", {})
        entry = {"dataset_key": key, "step": provenance.get("step"),
                 "records_sha256": manifest["files"].get(RECORDS_FILE, {}).get("sha256"),
                 "created_at": manifest["created_at"]}
        if provenance.get("step") == "ingest":
            entry |= {"source": provenance["source"], "source_sha256": provenance["source_sha256"],
                      "rows_in": summary.get("rows_in"), "rows_out": summary.get("rows_kept"),
                      "quarantined": summary.get("rows_quarantined"),
                      "quarantine_reasons": summary.get("quarantine_reasons", {})}
            key = None
        else:
            operator = provenance.get("operator", {})
            entry |= {"operator": operator.get("operator"), "version": operator.get("version"),
                      "params": operator.get("params", {}), "rows_in": summary.get("rows_in"),
                      "rows_out": summary.get("rows_out"), "dropped": summary.get("dropped", {}),
                      "changed": summary.get("changed", {}), "added": summary.get("added", 0)}
            key = provenance.get("parent")
        chain.append(entry)
    return chain[::-1]


def recipe_pages(store: ArtifactStore) -> list[dict[str, Any]]:
    runs = curated_runs(store)
    return [{**entry, "curated": runs.get(entry["recipe_key"], [])} for entry in recipes(store)]


def curated_runs(store: ArtifactStore) -> dict[str, list[dict[str, Any]]]:
    """Every curate run, newest first, by the key of the recipe it applied."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for key in store.artifacts(CURATED):
        recipe_key = store.manifest(CURATED, key)["provenance"].get("recipe")
        card = store.read_json(CURATED, key, DATA_CARD_FILE)
        validation = store.read_json(CURATED, key, VALIDATION_FILE)
        drift = card.get("drift")
        runs.setdefault(recipe_key, []).append({
            "key": key, "curated_at": card["curated_at"], "source": PurePath(card["source"]).name,
            "rows": card["rows"], "validation": {
                "success": validation["success"], "checks": len(validation["checks"]),
                "failed": [c for c in validation["checks"] if not c.get("success")]},
            "drift": None if drift is None else {
                "policy": drift["policy"], "checks": drift["checks"], "breaches": drift["breaches"],
                "lines": [breach_line(b) for b in drift["breaches"]],
                "figures": drift["figures"]}})
    for found in runs.values():
        found.sort(key=lambda r: r["curated_at"], reverse=True)
    return runs


def recipe_page(store: ArtifactStore, name: str) -> dict[str, Any]:
    """A recipe's approvals under ``name`` (latest first), the curate runs of each, and the
    chart of every step's share of rows dropped or rewritten over the runs, beside the
    share the approved search measured."""
    approvals = [r for r in recipe_pages(store) if r["name"] == name]
    if not approvals:
        raise ArtifactNotFound(f"no approved recipe named {name!r}")
    latest = approvals[0]
    runs = sorted((run for r in approvals for run in r["curated"]), key=lambda run: run["curated_at"])
    steps = [step_name(n, s["operator"]) for n, s in enumerate(latest["strategy"], start=1)]
    try:
        reference = search_figures(store, latest)
    except ArtifactNotFound:
        reference = {}
    chart = {"runs": [run["curated_at"] for run in runs],
             "steps": [{"name": step.removesuffix(" share"), "search": reference.get(step),
                        "shares": [(run["drift"] or {}).get("figures", {}).get(step) for run in runs]}
                       for step in steps]}
    return {"name": name, "latest": latest, "approvals": approvals, "rules": DriftRules.from_params(latest.get("drift")),
            "runs": runs[::-1], "chart": chart}


def record_examples(store: ArtifactStore, dataset_key: str, limit: int) -> list[dict[str, str]]:
    """The first ``limit`` records, personal identifiers replaced by pii_redaction's placeholders."""
    from autodp.operators.cleaning.pii_redaction import PiiRedaction
    from autodp.tables.engine import connect

    columns = ", ".join(f"{expr} AS {name}" for name, expr in PiiRedaction().rewrites().items())
    location = store.location(store.artifact_path(DATASETS, dataset_key, RECORDS_FILE))
    with connect(store) as con:
        rows = con.execute(f"SELECT {columns} FROM read_parquet(?) ORDER BY source_row LIMIT ?",
                           [location, limit]).fetchall()
    return [dict(zip(("instruction", "input", "output"), row)) for row in rows]


def _source_name(store: ArtifactStore, card: dict[str, Any]) -> str:
    try:
        source = store.manifest(DATASETS, card["input_dataset_key"])["provenance"].get("source", "")
    except ArtifactNotFound:
        return card["input_dataset_key"]
    return PurePath(source).name or source
