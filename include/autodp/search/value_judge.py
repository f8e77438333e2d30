"""The search's primary signal: each candidate's output valued against the raw sample by the
gradient value's flow form (``autodp.search.gradient_value``), on the evaluation references.

Of the signals the quality ladder (``make bench-ladder``) measures it fails the fewest of its
checks: it orders four dose ladders (clean, 10, 30 and 50% of rows damaged) on the ladder its
horizon was calibrated on and on a second one of other rows, and puts every quantity and
repetition rung below clean as models fine-tuned to convergence do; but it scores a quarter
of the rows level with the rows 30% damaged, where fine-tuning finds the quarter far worse
(it weighs lost rows less than fine-tuning does). The reference judge fails far more: it
cannot tell the quantity rungs from clean, and its seed noise is as large as the defects'
effect. It has no seed, so a candidate needs no fine-tune and no
reseeded baseline: the raw sample's records and the references are featurised once (the
``baseline`` step), and a candidate pays only for the records its strategy rewrote, then an
eigendecomposition as wide as its distinct records. Its interval resamples the references.

What it is not: a fine-tune. It reads what a record would teach the base model at LoRA's
starting point and follows training in a linearised model for a calibrated time, so the
published strategy is still confirmed by fine-tuning with several seeds against raw
(``autodp.search.confirmation``) before it is called better.
"""

from __future__ import annotations

import time
from typing import Any

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.search.config import LoraSettings
from autodp.search.evaluation import Example
from autodp.search.gradient_value import (
    FLOW_HORIZON,
    GradientFeatures,
    compare_value,
    stored_features,
)
from autodp.search.state import RawValue
from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.tables import engine
from autodp.text import prompt_text

SIGNAL = f"gradient_flow@{FLOW_HORIZON:g}"
WINDOW = 128  # tokens per record: the window the ladder calibrated the signal in
# What the ladder measured (docs/reference/benchmarks.md), for the data card and the review page.
LADDER = (f"{SIGNAL} fails the fewest checks of make bench-ladder: on its calibration ladder and on a second "
          "ladder of other rows it keeps the dose order on all four dose ladders (Spearman 1.00, pairwise accuracy "
          "1.00) with clean against 30% damaged separated, and puts every quantity and repetition rung measured (a "
          "half, a quarter and a tenth of the rows; a fifth of them repeated five times) below clean as fine-tuning "
          "to convergence does (200 LoRA steps x 4 x 128 tokens); but it scores the quarter level with the rows 30% "
          "damaged (+0.0006) where fine-tuning finds the quarter far worse: it weighs lost rows less than "
          "fine-tuning does. The reference judge fails far more of them. Against fine-tuning at the confirmation's "
          "60 steps no horizon agrees with both ladders: there fewer clean rows cost about what damaged rows do, "
          "and on the second ladder less")


def extractor(base: str, settings: Settings | None) -> GradientFeatures:
    return GradientFeatures(base=base, lora=LoraSettings(max_length=WINDOW), settings=settings)


def dataset_pairs(store: ArtifactStore, dataset_key: str, settings: Settings | None) -> list[tuple[str, str]]:
    """A stored dataset's records as (prompt, response) pairs."""
    with engine.connect(store, settings=settings) as con:
        rows = con.execute("select instruction, input, output from read_parquet(?) order by source_row",
                           [store.file_location(DATASETS, dataset_key, RECORDS_FILE)]).fetchall()
    return [(prompt_text({"instruction": i, "input": x}), o or "") for i, x, o in rows]


def raw_value(store: ArtifactStore, sample_key: str, examples: list[Example], base: str,
              settings: Settings | None) -> RawValue:
    """The features of the raw sample's records and of the references, stored once."""
    started = time.perf_counter()
    features = extractor(base, settings)
    _, sample_features = stored_features(store, features, dataset_pairs(store, sample_key, settings))
    _, reference_features = stored_features(store, features, _references(examples))
    return RawValue(signal=SIGNAL, sample_features_key=sample_features, reference_features_key=reference_features,
                    features_computed=features.computed, seconds=round(time.perf_counter() - started, 1))


def candidate_value(store: ArtifactStore, output_key: str, sample_key: str, examples: list[Example], base: str,
                    settings: Settings | None, seed: int = 0) -> dict[str, Any]:
    """The candidate's output against the raw sample: the mean over references of the
    difference in value (positive favours the candidate), its 95% interval, and what it cost.
    Records the sample shares are read from its stored features; only rewritten ones are computed."""
    features = extractor(base, settings)
    verdict, pairs = flow_difference(store, features, output_key, sample_key, sample_key, examples, settings, seed)
    return {"signal": SIGNAL, "difference": round(verdict["mean"], 6),
            "ci95": [round(verdict["ci95"][0], 6), round(verdict["ci95"][1], 6)],
            "separated": bool(verdict["separated"]), "records": len(pairs), "distinct_records": len(set(pairs)),
            "references": len(examples), "features_computed": features.computed}


def flow_difference(store: ArtifactStore, features: GradientFeatures, a_key: str, b_key: str, sample_key: str,
                    examples: list[Example], settings: Settings | None, seed: int = 0
                    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(dataset A against dataset B by the flow form on ``examples``: ``compare_value``'s
    verdict, positive favouring A; A's records). The raw sample's stored features and the
    references' are read first, so A and B pay only for records the sample does not hold."""
    verdicts, pairs = flow_differences(store, features, a_key, [b_key], sample_key, examples, settings, seed)
    return verdicts[b_key], pairs


def flow_differences(store: ArtifactStore, features: GradientFeatures, a_key: str, b_keys: list[str],
                     sample_key: str, examples: list[Example], settings: Settings | None, seed: int = 0
                     ) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """``flow_difference`` of A against each of ``b_keys``, A, the sample and the references
    read and featurised once: ({B: verdict}, A's records)."""
    pairs = {key: dataset_pairs(store, key, settings) for key in {a_key, sample_key, *b_keys}}
    stored_features(store, features, pairs[sample_key])
    references = stored_features(store, features, _references(examples))[0]
    on_a = features.features(pairs[a_key])
    verdicts = {b_key: compare_value(on_a, features.features(pairs[b_key]), references, "flow", seed=seed)
                for b_key in b_keys}
    return verdicts, pairs[a_key]


def _references(examples: list[Example]) -> list[tuple[str, str]]:
    return [(e.prompt, e.reference) for e in examples]
