"""Which of two datasets trains the better model: ``autodp compare A B``, without a search.

The instrument is the search's signal (``autodp.search.value_judge``): the gradient-alignment
data value in its flow form, the signal that fails the fewest checks of ``make
bench-ladder``, with no training and no seed. Each dataset is read as at most ``max_rows`` records chosen by a seeded
hash of their content, so records the two datasets share are compared on both sides (this
week's data against last week's, a curated set against its raw input). The references are a
trusted set (``eval_key``) or the screened held-out split of A (the search's own rule,
``evaluation.evaluation_split``); records asking a reference's question are left out of both
sides. The difference A - B is the mean over references of the two values; the flow form
values the compared rows whole, so its 95% interval resamples the references only.
``preferred`` is "a" or "b" only when that interval excludes zero.

It counts distinct records and repeats, but only among the rows compared: when a side was
cut to ``max_rows`` and the datasets' distinct records differ by more than
``SIZE_TOLERANCE``, the answer carries a ``size_warning``. Beside it, ``cosine`` gives the
first-order form (what the records teach, blind to how many there are; its interval
resamples each side's records too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.operators.resources import Resources
from autodp.search.evaluation import evaluation_split, load_examples
from autodp.search.gradient_value import compare_value, stored_features
from autodp.search.value_judge import SIGNAL as FLOW_SIGNAL
from autodp.search.value_judge import extractor as value_extractor
from autodp.store import ArtifactStore
from autodp.tables import engine
from autodp.text import prompt_text

COSINE_SIGNAL = "gradient_cosine"
DEFAULT_MAX_ROWS = 400
DEFAULT_EVAL_SIZE = 200
SIZE_TOLERANCE = 0.2  # distinct records, relative to the larger dataset's


def compare(store: ArtifactStore, a_key: str, b_key: str, eval_key: str | None = None, base: str = "smollm2",
            max_rows: int = DEFAULT_MAX_ROWS, eval_size: int = DEFAULT_EVAL_SIZE, seed: int = 0,
            resources: Resources | None = None) -> dict[str, Any]:
    resources = (resources or Resources()).using(store)
    started = time.perf_counter()
    for key in (a_key, b_key):
        store.manifest(DATASETS, key)  # fails clearly on an unknown dataset
    split = evaluation_split(store, a_key, eval_size, seed, eval_key, resources)
    references, _ = load_examples(store, split["evaluation_key"], resources.settings)
    sides = {name: _side(store, key, split["evaluation_key"], max_rows, seed, resources)
             for name, key in (("a", a_key), ("b", b_key))}
    for name, side in sides.items():
        if not side.records:
            raise ValueError(f"dataset {a_key if name == 'a' else b_key} has no record left to compare "
                             f"({side.rows} rows, all asking a reference's question)")
    extractor = value_extractor(base, resources.settings)
    features = {name: stored_features(store, extractor, side.records)[0] for name, side in sides.items()}
    reference_features, _ = stored_features(store, extractor, [(e.prompt, e.reference) for e in references])
    sampled = any(len(side.records) < side.rows for side in sides.values())
    cosine = compare_value(features["a"], features["b"], reference_features, "cosine", seed=seed,
                           resamples=1000 if sampled else 2000, sampled_records=sampled)
    flow = compare_value(features["a"], features["b"], reference_features, "flow", seed=seed)
    distinct = {name: side.distinct for name, side in sides.items()}
    return {
        "a": a_key, "b": b_key, "signal": FLOW_SIGNAL, "base_model": base, **_answer(flow),
        "cosine": {"signal": COSINE_SIGNAL, **_answer(cosine)},
        "rows": {name: {"compared": len(side.records), "total": side.rows} for name, side in sides.items()},
        "references": {"source": split["source"], "examples": len(references),
                       "evaluation_key": split["evaluation_key"]},
        "distinct_records": distinct, "size_warning": _size_warning(distinct, sampled, max_rows),
        "features_computed": extractor.computed, "seconds": round(time.perf_counter() - started, 1),
    }


def _answer(verdict: dict[str, Any]) -> dict[str, Any]:
    low, high = verdict["ci95"]
    return {"preferred": "a" if low > 0 else "b" if high < 0 else "neither",
            "difference": round(verdict["mean"], 6), "ci95": [round(low, 6), round(high, 6)]}


def _size_warning(distinct: dict[str, int], sampled: bool, max_rows: int) -> str | None:
    larger = max(distinct.values())
    if sampled and larger and abs(distinct["a"] - distinct["b"]) / larger > SIZE_TOLERANCE:
        return (f"A has {distinct['a']} distinct records and B {distinct['b']}, but at most {max_rows} of each were "
                "compared: the signal counts records among those only (raise --max-rows to count them all)")
    return None


@dataclass(frozen=True)
class Side:
    records: list[tuple[str, str]]  # (prompt, response), at most ``max_rows``, in seeded content-hash order
    rows: int  # the dataset's rows
    distinct: int  # its distinct records


def _side(store: ArtifactStore, dataset_key: str, evaluation_key: str, limit: int, seed: int,
          resources: Resources) -> Side:
    """One dataset's records to compare, without those asking a reference's question (the
    rule ``evaluation_split`` holds rows out by), and its counts, in one read."""
    records = store.file_location(DATASETS, dataset_key, RECORDS_FILE)
    with engine.connect(store, settings=resources.settings) as con:
        rows, distinct = con.execute("select count(*), count(distinct record_id) from read_parquet(?)",
                                     [records]).fetchone()
        kept = con.execute(f"""select r.instruction, r.input, r.output from read_parquet(?) r
                               anti join read_parquet(?) e on r.instruction = e.instruction and r.input = e.input
                               order by hash(r.record_id, {int(seed)}), r.source_row limit {int(limit)}""",
                           [records, store.file_location(DATASETS, evaluation_key, RECORDS_FILE)]).fetchall()
    return Side([(prompt_text({"instruction": i, "input": x}), o) for i, x, o in kept], rows, distinct)
