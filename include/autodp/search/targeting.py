"""Processing Target Selection: which rows are worth sending to the expensive operators.

A small seed set is labelled for quality — by the quality scorer (``autodp.operators.quality``:
score below one half = low quality; the default), by the rule operators' verdicts
(dropped = low quality), by the data-LLM rater, or by a label column — and a logistic
regression over MiniLM embeddings plus cheap features (computed in DuckDB) learns to tell
low-quality rows. With the scorer, its cheap signals (rule verdicts, the relevance
margin) are computed for every row and are features too; only the expensive one (the
base model's likelihoods) is limited to the seed. Its cross-validated quality is reported; every row gets a probability of low
quality, and rows at or above the threshold are flagged. LLM operators then process
flagged rows only (``Resources.targets``), and the classifier's scores can drive
``quality_score_filter``.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from autodp.artifacts import DATASETS, FLAGS_FILE, RECORDS_FILE, TARGETS
from autodp.execution.executor import run_steps
from autodp.execution.strategy import Strategy
from autodp.hashing import content_key
from autodp.llm import conversations
from autodp.operators import quality
from autodp.operators.base import prepare_connection
from autodp.operators.resources import Resources
from autodp.search.config import Labeler
from autodp.store import ArtifactStore
from autodp.tables import engine
from autodp.text import blank_sql, letters_and_digits_sql, placeholder_sql, prompt_text

TARGETING_VERSION = "2"  # 2: the quality scorer labels the seed
DEFAULT_RULES = ["drop_empty_output", "length_bounds", "hallucinated_url_filter", "merged_instruction_filter",
                 {"exact_dedup": {"key": "prompt"}}]
GOOD_LABELS = {"1", "true", "good", "high", "yes"}
# Cheap per-record features, computed in DuckDB beside the prompt's embedding.
CHEAP_FEATURES = {
    "instruction_chars": "ln(1 + length(instruction))",
    "input_chars": "ln(1 + length(input))",
    "output_chars": "ln(1 + length(output))",
    "output_to_prompt": "ln((1 + length(output)) / (1 + length(instruction) + length(input)))",
    "output_blank": f"({blank_sql('output')})::double",
    "output_placeholder": f"({placeholder_sql('output')})::double",
    "output_url": "regexp_matches(output, 'https?://')::double",
    "digit_share": "len(regexp_extract_all(left(output, 2000), '[0-9]')) / (1 + least(length(output), 2000))",
}


def select_targets(
    dataset_key: str,
    store: ArtifactStore,
    *,
    labeler: Labeler = "scorer",
    seed_size: int = 300,
    threshold: float = 0.5,
    rules: list | None = None,
    label_column: str | None = None,
    llm_min_score: int = 6,
    seed: int = 0,
    resources: Resources | None = None,
) -> dict[str, Any]:
    resources = (resources or Resources()).using(store)
    if labeler == "column" and not label_column:
        raise ValueError("labeler 'column' needs label_column")
    rule_steps = Strategy.from_data(rules or DEFAULT_RULES)
    options = {"dataset": dataset_key, "labeler": labeler, "seed_size": seed_size, "threshold": threshold,
               "rules": rule_steps.canonical() if labeler == "rules" else None, "label_column": label_column,
               "llm": resources.llm_model() if labeler == "llm" else None, "llm_min_score": llm_min_score,
               "signals": list(quality.DEFAULT_SIGNALS) if labeler == "scorer" else None,
               "scorer": quality.SCORER_VERSION if labeler == "scorer" else None, "seed": seed}
    key = content_key("targets", TARGETING_VERSION, options)
    if store.has(TARGETS, key):
        return {**store.manifest(TARGETS, key)["summary"], "cached": True}
    records = store.file_location(DATASETS, dataset_key, RECORDS_FILE)
    store.manifest(DATASETS, dataset_key)
    with engine.connect(store, settings=resources.settings) as con:
        prepare_connection(con, records, "step_0")
        seed_rows = seed_sample(con, "step_0", seed_size, seed)
        if labeler == "scorer":
            scored, _ = quality.score_records(records, resources, only_rows=frozenset(seed_rows), store=store)
            labels = {row: int(score < quality.LOW_QUALITY) for row, score in
                      zip(scored["source_row"].to_pylist(), scored["score"].to_pylist()) if score is not None}
        else:
            labels = _labels(con, seed_rows, labeler, rule_steps, label_column, llm_min_score, resources)
        cheap, embedded, rows = _features(con, resources)
    if labeler == "scorer":
        cheap = np.hstack([cheap, _cheap_signals(scored, rows)])
    features = np.hstack([cheap, embedded])
    index = {row: i for i, row in enumerate(rows)}
    labelled = [(index[row], low) for row, low in labels.items() if low is not None]
    x_seed = features[[i for i, _ in labelled]]
    y_seed = np.array([low for _, low in labelled], dtype=int)
    summary: dict[str, Any] = {"targets_key": key, "dataset_key": dataset_key, "labeler": labeler,
                               "seed_rows": len(seed_rows), "seed_labelled": len(labelled),
                               "seed_low": int(y_seed.sum()), "rows": len(rows), "threshold": threshold}
    if len(set(y_seed.tolist())) < 2:
        # One class only: nothing to learn; every row gets the seed's rate.
        p_low = np.full(len(rows), float(y_seed.mean()) if len(y_seed) else 0.0)
        summary["classifier"] = {"trained": False, "reason": "the seed labels have one class"}
    else:
        model, cross_validated = _train(x_seed, y_seed, seed, cheap.shape[1])
        p_low = model.predict_proba(features)[:, 1]
        summary["classifier"] = {"trained": True, "model": "logistic_regression", **cross_validated}
    flagged = p_low >= threshold
    summary["flagged"] = int(flagged.sum())
    summary["flagged_rate"] = round(float(flagged.mean()), 6) if len(rows) else 0.0
    with tempfile.TemporaryDirectory(prefix="autodp-targets-") as tmp:
        path = Path(tmp) / FLAGS_FILE
        pq.write_table(pa.table({"source_row": pa.array(rows, pa.int64()), "p_low": pa.array(p_low, pa.float64()),
                                 "flagged": pa.array(flagged)}), path)
        store.publish(TARGETS, key, {FLAGS_FILE: path},
                      provenance={"step": "targets", "version": TARGETING_VERSION, **options}, summary=summary)
    return {**summary, "cached": False}


def load_targets(store: ArtifactStore, targets_key: str) -> tuple[frozenset[int], dict[int, float]]:
    """(flagged source_rows, source_row -> quality score = 1 - p_low)."""
    with engine.connect(store) as con:
        rows = con.execute("select source_row, p_low, flagged from read_parquet(?)",
                           [store.file_location(TARGETS, targets_key, FLAGS_FILE)]).fetchall()
    return frozenset(r for r, _, f in rows if f), {r: 1.0 - p for r, p, _ in rows}


def flagged_removed(store: ArtifactStore, targets_key: str, sample_key: str, output_key: str,
                    settings=None) -> dict[str, int]:
    """How a strategy's output on the sample treats the rows the classifier flags: the
    flagged rows it dropped or repaired (``flagged_removed``: no output row with their
    ``source_row`` keeps the response's letters and digits, so changing only whitespace,
    case or punctuation is no repair) and the unflagged rows it dropped."""
    sample, output = (store.file_location(DATASETS, key, RECORDS_FILE) for key in (sample_key, output_key))
    with engine.connect(store, settings=settings) as con:
        flagged, removed, lost = con.execute(
            f"""with output as (select source_row, {letters_and_digits_sql('output')} as skeleton from read_parquet($2)),
                     sampled as (select s.source_row, f.flagged,
                                        exists (select 1 from output o where o.source_row = s.source_row
                                                and o.skeleton = {letters_and_digits_sql('s.output')}) as unrepaired,
                                        exists (select 1 from output o where o.source_row = s.source_row) as kept
                                 from read_parquet($1) s join read_parquet($3) f using (source_row))
                select count(*) filter (where flagged), count(*) filter (where flagged and not unrepaired),
                       count(*) filter (where not flagged and not kept) from sampled""",
            [sample, output, store.file_location(TARGETS, targets_key, FLAGS_FILE)]).fetchone()
    return {"flagged": int(flagged), "flagged_removed": int(removed), "unflagged_dropped": int(lost)}


def _labels(con, seed_rows: list[int], labeler: str, rules: Strategy, label_column: str | None,
            llm_min_score: int, resources: Resources) -> dict[int, int | None]:
    """source_row -> 1 (low quality), 0 (fine) or None (no label)."""
    con.execute("create or replace temp table seed_0 as select * from step_0 where source_row in "
                f"({', '.join(str(r) for r in seed_rows) or 'null'})")
    if labeler == "rules":
        for _ in run_steps(con, rules, resources, table="seed"):
            pass
        dropped = {r for (r,) in con.execute("select source_row from drops").fetchall()}
        return {row: int(row in dropped) for row in seed_rows}
    if labeler == "column":
        found = dict(con.execute(
            f"select source_row, lower(json_extract_string(metadata, {engine.sql_literal('$.' + json.dumps(label_column))})) "
            "from seed_0").fetchall())
        return {row: (None if found.get(row) is None else int(found[row] not in GOOD_LABELS)) for row in seed_rows}
    relation = con.sql("select source_row, instruction, input, output from seed_0 order by source_row")
    seeds = [dict(zip(relation.columns, r)) for r in relation.fetchall()]
    scores = conversations.rate(resources.llm, [(prompt_text(r), r["output"]) for r in seeds])
    return {r["source_row"]: (None if s is None else int(s < llm_min_score)) for r, s in zip(seeds, scores)}


def seed_sample(con, table: str, size: int, seed: int) -> list[int]:
    """The source_rows of the seed set: ``size`` rows in a seeded hash order."""
    return [r for (r,) in con.execute(
        f"select source_row from {table} order by hash(source_row, {int(seed)}) limit {int(size)}").fetchall()]


def _features(con, resources: Resources) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(cheap features, the text's embedding, one row per record; the source_rows)."""
    computed = ", ".join(f"{sql} as {name}" for name, sql in CHEAP_FEATURES.items())
    table = con.sql(f"select source_row, instruction, input, output, {computed} from step_0 order by source_row").to_arrow_table()
    cheap = np.column_stack([table[name].to_numpy(zero_copy_only=False).astype(np.float64) for name in CHEAP_FEATURES])
    texts = [f"{prompt_text({'instruction': i, 'input': x})}\n{o}" for i, x, o in zip(
        table["instruction"].to_pylist(), table["input"].to_pylist(), table["output"].to_pylist())]
    return cheap, resources.embedder.encode(texts), table["source_row"].to_pylist()


def _cheap_signals(scored: pa.Table, rows: list[int]) -> np.ndarray:
    """The scorer's signals computed for every row: rules fired (0/1) and the relevance margin."""
    by_row = {row: (p or 0.0, 0.0 if margin is None else margin) for row, p, margin in zip(
        scored["source_row"].to_pylist(), scored["p_rules"].to_pylist(), scored["relevance_margin"].to_pylist())}
    return np.array([by_row.get(row, (0.0, 0.0)) for row in rows], dtype=np.float64)


def _train(x: np.ndarray, y: np.ndarray, seed: int, cheap_columns: int):
    """Logistic regression over the cheap features, standardised, and the embedding as it
    is (a unit vector): standardising its 384 dimensions too would drown a few strong
    features in noise on a seed of a few hundred rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, make_scorer, precision_score, recall_score
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scaled = ColumnTransformer([("cheap", StandardScaler(), list(range(cheap_columns)))], remainder="passthrough")
    model = make_pipeline(scaled, LogisticRegression(class_weight="balanced", max_iter=2000, C=0.5))
    folds = min(5, int(np.bincount(y).min()))
    quality: dict[str, Any] = {"cv_folds": folds}
    if folds >= 2:
        scores = cross_validate(model, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                                scoring={"roc_auc": "roc_auc",
                                         "precision": make_scorer(precision_score, zero_division=0),
                                         "recall": make_scorer(recall_score, zero_division=0),
                                         "f1": make_scorer(f1_score, zero_division=0)})
        for name in ("roc_auc", "precision", "recall", "f1"):
            value = float(np.mean(scores[f"test_{name}"]))
            quality[f"cv_{name}"] = None if math.isnan(value) else round(value, 4)
    model.fit(x, y)
    return model, quality
