"""Distribution Preserving Sampling: the small search sample, and how faithful it is.

Strata are embedding clusters (k-means over MiniLM embeddings of the prompt) x length
buckets (quantiles of the record's length) x, optionally, a label column from metadata.
Each stratum gets its proportional share of the sample (largest remainder, so the total
is exact), filled in a seeded hash order; the sampling runs in DuckDB. The fidelity
report compares the sample with the full set: per-stratum proportions, their
Jensen-Shannon divergence, and the Kolmogorov-Smirnov distance between length
distributions. The sample is a dataset artifact, so strategies apply to it directly.

Embedding every prompt of a large input costs more than the rest of the sampling
together (MiniLM does a few hundred prompts a second on two CPU cores), so an input
larger than ``frame_rows`` (and than four times the sample) is sampled in two phases: a
seeded uniform frame of that many rows is embedded and stratified, and the sample is
drawn from it. The report then estimates the full set's stratum shares from the frame
and says so (``frame_rows``); the length distance is still against every row.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from autodp.artifacts import DATASETS, FIDELITY_FILE, RECORDS_FILE
from autodp.hashing import content_key
from autodp.operators.batch import write_table
from autodp.operators.resources import Resources
from autodp.store import ArtifactStore
from autodp.tables import engine
from autodp.text import prompt_text

SAMPLE_VERSION = "1"


def sample(
    dataset_key: str,
    store: ArtifactStore,
    *,
    size: int | None = None,
    fraction: float | None = None,
    seed: int = 0,
    clusters: int = 8,
    length_buckets: int = 4,
    label_column: str | None = None,
    exclude_rows: frozenset[int] | None = None,
    frame_rows: int | None = 10_000,
    resources: Resources | None = None,
) -> dict[str, Any]:
    """A stratified sample of ``size`` rows (or ``fraction`` of them) as a new dataset."""
    if (size is None) == (fraction is None):
        raise ValueError("give exactly one of size or fraction")
    if size is not None and size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if frame_rows is not None and frame_rows < 1:
        raise ValueError(f"frame_rows must be at least 1 (or None for no frame), got {frame_rows}")
    resources = (resources or Resources()).using(store)
    options = {"dataset": dataset_key, "size": size, "fraction": fraction, "seed": seed, "clusters": clusters,
               "length_buckets": length_buckets, "label_column": label_column, "frame_rows": frame_rows,
               "exclude": content_key("rows", "1", {"rows": sorted(exclude_rows or [])})}
    key = content_key("sample", SAMPLE_VERSION, options)
    if store.has(DATASETS, key):
        return {**store.manifest(DATASETS, key)["summary"], "cached": True}
    store.manifest(DATASETS, dataset_key)
    records = store.file_location(DATASETS, dataset_key, RECORDS_FILE)
    with engine.connect(store, settings=resources.settings) as con, \
            tempfile.TemporaryDirectory(prefix="autodp-sample-") as tmp:
        con.execute("create temp table full_set as select * from read_parquet(?)", [records])
        if exclude_rows:
            write_table(con, "_excluded", {"source_row": pa.array(sorted(exclude_rows), pa.int64())})
            con.execute("delete from full_set where source_row in (select source_row from _excluded)")
        total = con.execute("select count(*) from full_set").fetchone()[0]
        if total == 0:
            raise ValueError(f"dataset {dataset_key} has no rows to sample")
        wanted = min(total, size if size is not None else max(1, round(fraction * total)))
        if wanted == total:
            clusters = 1  # every row is taken: strata cannot change the sample, skip the embeddings
        frame = max(frame_rows, 4 * wanted) if frame_rows is not None and clusters > 1 else total
        framing = f"order by hash(source_row, {int(seed)}, 'frame'), source_row limit {frame}" if frame < total else ""
        con.execute(f"create temp view frame as select * from full_set {framing}")
        _assign_strata(con, resources, clusters, length_buckets, label_column, seed)
        _allocate(con, wanted)
        con.execute(f"""
            create temp table sampled as
            select s.* exclude (cluster, length_bucket, label, stratum) from (
                select *, row_number() over (partition by stratum order by hash(source_row, {int(seed)})) as pick
                from strata) s
            join allocation a using (stratum)
            where s.pick <= a.take""")
        fidelity = _fidelity(con, total)
        out = Path(tmp)
        con.execute(f"copy (select * exclude (pick) from sampled order by source_row) to '{out / RECORDS_FILE}' "
                    "(format parquet)")
        (out / FIDELITY_FILE).write_text(json.dumps(fidelity, indent=2, sort_keys=True))
        summary = {"dataset_key": key, "parent": dataset_key, "rows_full": total,
                   "rows": fidelity["rows_sample"], "fidelity": _headline(fidelity)}
        store.publish(DATASETS, key, {RECORDS_FILE: out / RECORDS_FILE, FIDELITY_FILE: out / FIDELITY_FILE},
                      provenance={"step": "sample", "version": SAMPLE_VERSION, **options}, summary=summary)
    return {**summary, "cached": False}


def fidelity_report(store: ArtifactStore, sample_key: str) -> dict[str, Any]:
    return store.read_json(DATASETS, sample_key, FIDELITY_FILE)


def _assign_strata(con, resources: Resources, clusters: int, length_buckets: int,
                   label_column: str | None, seed: int) -> None:
    rows = con.execute("select source_row, instruction, input, output from frame order by source_row").fetchall()
    source_rows = np.array([r[0] for r in rows], dtype=np.int64)
    k = max(1, min(clusters, len(rows)))
    if k > 1:
        from sklearn.cluster import KMeans

        vectors = resources.embedder.encode([prompt_text({"instruction": r[1], "input": r[2]}) for r in rows])
        labels = KMeans(n_clusters=k, random_state=seed, n_init=3).fit_predict(vectors)
    else:
        labels = np.zeros(len(rows), dtype=np.int64)
    write_table(con, "_clusters", {"source_row": pa.array(source_rows), "cluster": pa.array(labels.astype(np.int64))})
    label = (f"coalesce(json_extract_string(metadata, {engine.sql_literal('$.' + json.dumps(label_column))}), '')"
             if label_column else "''")
    con.execute(f"""
        create temp table strata as
        select *, cluster || '/' || length_bucket || '/' || label as stratum from (
            select f.*, c.cluster, {label} as label,
                   ntile({max(1, int(length_buckets))}) over (
                       order by length(instruction) + length(input) + length(output), source_row) as length_bucket
            from frame f join _clusters c using (source_row))""")


def _allocate(con, wanted: int) -> None:
    """Largest-remainder proportional allocation of ``wanted`` rows over the strata."""
    counts = con.execute("select stratum, count(*) from strata group by stratum order by stratum").fetchall()
    total = sum(n for _, n in counts)
    quotas = [(stratum, n, wanted * n / total) for stratum, n in counts]
    take = {stratum: min(n, math.floor(q)) for stratum, n, q in quotas}
    left = wanted - sum(take.values())
    for stratum, n, _quota in sorted(quotas, key=lambda x: (x[2] - math.floor(x[2]), x[0]), reverse=True):
        if left == 0:
            break
        if take[stratum] < n:
            take[stratum] += 1
            left -= 1
    write_table(con, "allocation", {"stratum": pa.array(list(take)), "take": pa.array(list(take.values()), pa.int64())})


def _fidelity(con, total: int) -> dict[str, Any]:
    strata = con.execute("""
        with full_counts as (select stratum, count(*) as n from strata group by stratum),
             sample_counts as (select s.stratum, count(*) as n from sampled x join strata s using (source_row)
                               group by s.stratum)
        select f.stratum, f.n, coalesce(s.n, 0) from full_counts f left join sample_counts s using (stratum)
        order by f.stratum""").fetchall()
    frame_total = sum(n for _, n, _ in strata)
    sample_total = sum(m for _, _, m in strata)
    p = np.array([n / frame_total for _, n, _ in strata])
    q = np.array([m / sample_total for _, _, m in strata])
    lengths_full = np.array([r[0] for r in con.execute("select length(output) from full_set").fetchall()])
    lengths_sample = np.array([r[0] for r in con.execute("select length(output) from sampled").fetchall()])
    return {
        "rows_full": total,
        "frame_rows": frame_total,
        "rows_sample": sample_total,
        "strata": [{"stratum": s, "full_share": round(n / frame_total, 6), "sample_share": round(m / sample_total, 6)}
                   for s, n, m in strata],
        "js_divergence": round(js_divergence(p, q), 6),
        "max_share_gap": round(float(np.max(np.abs(p - q))), 6),
        "output_length_ks": round(ks_statistic(lengths_full, lengths_sample), 6),
        "output_length_mean": {"full": round(float(lengths_full.mean()), 2),
                               "sample": round(float(lengths_sample.mean()), 2)},
    }


def _headline(fidelity: dict[str, Any]) -> dict[str, Any]:
    return {k: fidelity[k] for k in ("js_divergence", "max_share_gap", "output_length_ks", "frame_rows")} | {
        "strata": len(fidelity["strata"])}


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0: identical, 1: disjoint)."""
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return (kl(p, m) + kl(q, m)) / 2


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.union1d(a, b)
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))
