"""The quality scorer: one score in [0, 1] per record, with the signals behind it.

Each signal is a defect detector that gives the probability that a record is defective;
the score is the probability that none of them is right, the product of ``1 - p`` over
the signals used. Nothing is fitted: every mapping below is fixed, centred on the
threshold of the operator the signal comes from, so the scorer means the same on any
data (``autodp score``, target selection's seed labels and ``quality_score_filter``).

- ``rules``: each rule operator of ``RULES`` run alone over every record. A record one of
  them drops (or, for ``pii_redaction``, rewrites) gets ``p = RULE_CONFIDENCE``.
- ``relevance``: how much closer the prompt is to its own response than to random ones,
  in standard deviations (``mismatched_answer_filter``'s margin, MiniLM);
  ``p = sigmoid(-2 (margin - 1))``: one half at that operator's threshold of 1 SD.
- ``likelihood``: instruction-following difficulty under the base model (the response's
  perplexity given the prompt over its perplexity alone, as in ``difficulty_selection``,
  on the response's first 128 tokens);
  ``p = sigmoid((IFD - 1) / 0.05)``: one half where the prompt stops helping (IFD 1).
- ``llm``: the data LLM's 1-10 rating ``s``; ``p = (10 - s) / 9``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pyarrow as pa

from autodp.operators.resources import Resources

SCORER_VERSION = "1"
SIGNALS = ("rules", "relevance", "likelihood", "llm")
# The likelihood signal costs two base-model passes a row (about 1-2 s on two CPU cores), so
# it is asked for by name: `autodp score --signals rules,relevance,likelihood`.
DEFAULT_SIGNALS = ("rules", "relevance")
# Each runs alone over every record; dedup keeps the first of a group and flags the rest.
RULES: tuple[str, ...] = (
    "drop_empty_output", "length_bounds", "truncation_filter", "hallucinated_url_filter",
    "merged_instruction_filter", "language_filter", "pii_redaction", "exact_dedup", "near_dedup",
)
# The pool's rule operators reach precision 0.81-1.0 on planted defects (make bench-defects; docs/reference/benchmarks.md).
RULE_CONFIDENCE = 0.9
MIN_MARGIN = 1.0  # mismatched_answer_filter's default
RELEVANCE_SLOPE = 2.0
IFD_SCALE = 0.05
LIKELIHOOD_TOKENS = 256  # per pass: the response's first 128 tokens after the prompt's last ones
LOW_QUALITY = 0.5  # a score below this labels a record low quality (target selection's seed labels)
COLUMNS = {
    "source_row": pa.int64(), "score": pa.float64(), "rules": pa.string(), "p_rules": pa.float64(),
    "relevance_margin": pa.float64(), "p_relevance": pa.float64(), "ifd": pa.float64(),
    "p_likelihood": pa.float64(), "llm_rating": pa.float64(), "p_llm": pa.float64(),
}


def check_signals(signals: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = sorted(set(signals) - set(SIGNALS))
    if unknown or not signals:
        raise ValueError(f"unknown quality signal(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(SIGNALS)}")
    return tuple(s for s in SIGNALS if s in signals)


def score_records(records_location: str, resources: Resources, signals: tuple[str, ...] = DEFAULT_SIGNALS,
                  only_rows: frozenset[int] | None = None, store=None) -> tuple[pa.Table, dict[str, float]]:
    """Score the records in a Parquet file of canonical records (a store location or a
    local path): a table with ``COLUMNS`` in source_row order, and seconds per signal.
    The cheap signals (rules, relevance) see every record, since dedup and the relevance
    margin compare a record with the others; the expensive ones (likelihood, llm) and the
    score itself cover ``only_rows`` when given, every row otherwise."""
    from autodp.operators.base import prepare_connection
    from autodp.tables import engine

    signals = check_signals(signals)
    seconds: dict[str, float] = {}
    with engine.connect(store, settings=resources.settings) as con:
        prepare_connection(con, records_location, "scored")
        relation = con.sql("select source_row, instruction, input, output from scored order by source_row")
        records = [dict(zip(relation.columns, row)) for row in relation.fetchall()]
        rows = [r["source_row"] for r in records]
        columns: dict[str, list] = {name: [None] * len(rows) for name in COLUMNS}
        columns["source_row"] = rows
        index = {row: i for i, row in enumerate(rows)}
        chosen = [r for r in records if only_rows is None or r["source_row"] in only_rows]
        if "rules" in signals:
            started = time.perf_counter()
            fired = _rule_verdicts(con, resources)
            seconds["rules"] = time.perf_counter() - started
            for i, row in enumerate(rows):
                reasons = fired.get(row)
                columns["rules"][i] = ",".join(reasons) if reasons else None
                columns["p_rules"][i] = RULE_CONFIDENCE if reasons else 0.0
    if "relevance" in signals:
        started = time.perf_counter()
        from autodp.operators.cleaning.mismatched_answer_filter import relevance_margins

        for i, margin in enumerate(relevance_margins(records, resources)):
            if margin is not None:
                columns["relevance_margin"][i] = margin
                columns["p_relevance"][i] = _sigmoid(-RELEVANCE_SLOPE * (margin - MIN_MARGIN))
        seconds["relevance"] = time.perf_counter() - started
    if "likelihood" in signals:
        started = time.perf_counter()
        for record, ifd in zip(chosen, instruction_following_difficulty(chosen, resources)):
            i = index[record["source_row"]]
            columns["ifd"][i] = ifd
            columns["p_likelihood"][i] = None if ifd is None else _sigmoid((ifd - 1.0) / IFD_SCALE)
        seconds["likelihood"] = time.perf_counter() - started
    if "llm" in signals:
        from autodp.llm import conversations
        from autodp.text import prompt_text

        started = time.perf_counter()
        rated = conversations.rate(resources.llm, [(prompt_text(r), r["output"]) for r in chosen])
        for record, rating in zip(chosen, rated):
            i = index[record["source_row"]]
            columns["llm_rating"][i] = None if rating is None else float(rating)
            columns["p_llm"][i] = None if rating is None else (10.0 - min(max(rating, 1), 10)) / 9.0
        seconds["llm"] = time.perf_counter() - started
    for i in range(len(rows)):
        if only_rows is not None and rows[i] not in only_rows:
            continue
        columns["score"][i] = combined_score(columns[f"p_{signal}"][i] for signal in signals)
    table = pa.table({name: pa.array(values, kind) for (name, kind), values in
                      zip(COLUMNS.items(), (columns[name] for name in COLUMNS))})
    return table, {name: round(value, 3) for name, value in seconds.items()}


def combined_score(defect_probabilities) -> float:
    """The probability that no signal is right: the product of ``1 - p`` (None: not measured)."""
    return float(np.prod([1.0 - p for p in defect_probabilities if p is not None]))


def summarize(table: pa.Table, signals: tuple[str, ...]) -> dict[str, Any]:
    """Aggregates of a scored table: counts, the score's distribution, rule verdicts."""
    scores = np.array([s for s in table["score"].to_pylist() if s is not None], dtype=np.float64)
    fired: dict[str, int] = {}
    for _, verdict in verdicts(table):
        fired[verdict] = fired.get(verdict, 0) + 1
    histogram, _ = np.histogram(scores, bins=10, range=(0.0, 1.0))
    return {
        "rows": table.num_rows,
        "scored": int(scores.size),
        "signals": list(signals),
        "low_quality": int((scores < LOW_QUALITY).sum()),
        "low_quality_threshold": LOW_QUALITY,
        "score_mean": round(float(scores.mean()), 4) if scores.size else None,
        "score_quantiles": ({q: round(float(np.quantile(scores, float(q))), 4) for q in ("0.1", "0.25", "0.5",
                                                                                          "0.75", "0.9")}
                            if scores.size else {}),
        "score_histogram": {"bins": [round(b / 10, 1) for b in range(11)], "counts": histogram.tolist()},
        "rules_fired": dict(sorted(fired.items())),
    }


def instruction_following_difficulty(records: list[dict[str, Any]], resources: Resources) -> list[float | None]:
    """IFD per record: exp(mean NLL of the response given the prompt - mean NLL alone)."""
    from autodp.operators.selection.difficulty_selection import TEMPLATE
    from autodp.text import prompt_text

    found: list[float | None] = []
    for record in records:
        if not (record["output"] or "").strip():
            found.append(None)
            continue
        prompt = TEMPLATE.format(prompt=prompt_text(record))
        conditional = resources.scorer.mean_nll(prompt, record["output"], max_tokens=LIKELIHOOD_TOKENS)
        alone = resources.scorer.mean_nll("", record["output"], max_tokens=LIKELIHOOD_TOKENS)
        found.append(math.exp(conditional - alone))
    return found


def _rule_verdicts(con, resources: Resources) -> dict[int, list[str]]:
    """source_row -> the 'operator:reason' verdicts of the rules that fired on it."""
    from autodp import operators

    for number, name in enumerate(RULES, start=1):
        operators.get(name)().run(con, "scored", "_rule_output", number, resources)
        con.execute("drop table _rule_output")
    fired: dict[int, list[str]] = {}
    verdicts = con.execute("""
        select source_row, operator || ':' || reason from drops
        union all select source_row, operator || ':' || reason from changes
        order by 1, 2""").fetchall()
    for row, verdict in verdicts:
        fired.setdefault(row, []).append(verdict)
    return fired


def verdicts(table: pa.Table):
    """(source_row, 'operator:reason') for every rule verdict in a scored table."""
    for row, reasons in zip(table["source_row"].to_pylist(), table["rules"].to_pylist()):
        for verdict in (reasons or "").split(","):
            if verdict:
                yield row, verdict


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))
