from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from autodp.operators.base import Deduplicator, OperatorParams, Stage

# The universal hash family of datasketch: (a*h + b) mod (2^61 - 1), over 32-bit values.
MERSENNE = np.uint64((1 << 61) - 1)
MAX_HASH = np.uint64((1 << 32) - 1)
TEXTS = {
    "record": "instruction || ' ' || input || ' ' || output",
    "prompt": "instruction || ' ' || input",
    "output": "output",
}


class NearDedup(Deduplicator):
    """Keeps one record per group of near-duplicates: MinHash over word n-gram shingles,
    locality-sensitive hashing into bands for candidates, then the exact Jaccard
    similarity of the candidates' shingle sets against the threshold.

    Shingling and the candidate join run in DuckDB; the MinHash signatures are computed
    with NumPy (one vectorised min per record), and groups are joined with union-find.
    """

    class Params(OperatorParams):
        threshold: float = Field(0.7, ge=0.1, le=1.0, description="Jaccard similarity at or above which records are duplicates")
        ngram: int = Field(3, ge=1, le=10, description="words per shingle")
        num_perm: int = Field(128, ge=16, le=512, description="MinHash permutations")
        text: Literal["record", "prompt", "output"] = Field("record", description="which text is compared")
        seed: int = Field(42, ge=0)

    name = "near_dedup"
    stage: ClassVar[Stage] = "cleaning"
    reason: ClassVar[str] = "near_duplicate"

    def groups(self, con, source):
        p = self.params
        con.execute(f"""
            create or replace temp table _shingles as
            with words as (
                select source_row,
                       list_filter(string_split_regex(lower({TEXTS[p.text]}), '[^\\w]+'), w -> w <> '') as w
                from {source}
            )
            select source_row,
                   list_distinct(case when len(w) <= {p.ngram} then [hash(array_to_string(w, ' '))]
                        else list_transform(range(1, len(w) - {p.ngram} + 2),
                                            i -> hash(array_to_string(w[i:i + {p.ngram} - 1], ' '))) end) as hashes
            from words""")
        rows, hashes = self._fetch(con)
        bands, rows_per_band = optimal_bands(p.threshold, p.num_perm)
        band_keys = minhash_band_keys(hashes, p.num_perm, bands, rows_per_band, p.seed)
        # Copied into DuckDB: join filters pushed into an Arrow scan cannot carry uint64 keys.
        con.register("_band_keys_arrow", _band_table(rows, band_keys))
        con.execute("create or replace temp table _band_keys as select * from _band_keys_arrow")
        con.unregister("_band_keys_arrow")
        pairs = con.execute(f"""
            with candidates as (
                select distinct a.source_row as a, b.source_row as b
                from _band_keys a join _band_keys b
                  on a.band = b.band and a.band_key = b.band_key and a.source_row < b.source_row
            )
            select c.a, c.b
            from candidates c
            join _shingles sa on sa.source_row = c.a
            join _shingles sb on sb.source_row = c.b
            where len(list_intersect(sa.hashes, sb.hashes))::double
                  / greatest(len(list_distinct(list_concat(sa.hashes, sb.hashes))), 1) >= {p.threshold}
        """).fetchall()
        con.execute("drop table _band_keys; drop table _shingles")
        members = union_find(pairs)
        con.execute("create or replace temp table _near_groups (source_row bigint, group_id bigint)")
        if members:
            con.executemany("insert into _near_groups values (?, ?)", list(members.items()))
        return "select source_row, group_id from _near_groups"

    @staticmethod
    def _fetch(con):
        table = con.execute("select source_row, hashes from _shingles order by source_row").arrow()
        if hasattr(table, "read_all"):
            table = table.read_all()
        rows = table.column("source_row").to_numpy()
        hashes = [np.asarray(h, dtype=np.uint64) for h in table.column("hashes").to_pylist()]
        return rows, hashes


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands b and rows r (b*r <= num_perm) whose S-curve 1-(1-s^r)^b minimises the
    false-positive plus false-negative area around the threshold (the usual LSH choice)."""
    grid = np.linspace(0.0, 1.0, 201)
    best, best_error = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        if rows == 0:
            break
        curve = 1.0 - (1.0 - grid**rows) ** bands
        false_positive = np.trapezoid(np.where(grid < threshold, curve, 0.0), grid)
        false_negative = np.trapezoid(np.where(grid >= threshold, 1.0 - curve, 0.0), grid)
        error = false_positive + false_negative
        if error < best_error:
            best, best_error = (bands, rows), error
    return best


def minhash_band_keys(hashes: list[np.ndarray], num_perm: int, bands: int, rows_per_band: int,
                      seed: int) -> np.ndarray:
    """One uint64 key per (record, band): a hash of that band's slice of the signature."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, int(MERSENNE), size=num_perm, dtype=np.uint64)
    b = rng.integers(0, int(MERSENNE), size=num_perm, dtype=np.uint64)
    keys = np.empty((len(hashes), bands), dtype=np.uint64)
    mixer = rng.integers(1, 1 << 63, size=rows_per_band, dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        for index, shingles in enumerate(hashes):
            if len(shingles) == 0:
                shingles = np.zeros(1, dtype=np.uint64)
            permuted = (np.outer(a, shingles & MAX_HASH) + b[:, None]) % MERSENNE & MAX_HASH
            signature = permuted.min(axis=1)[: bands * rows_per_band].reshape(bands, rows_per_band)
            keys[index] = (signature * mixer).sum(axis=1)
    return keys


def _band_table(rows: np.ndarray, keys: np.ndarray):
    import pyarrow as pa

    bands = keys.shape[1] if keys.size else 0
    return pa.table({
        "source_row": np.repeat(rows, bands),
        "band": np.tile(np.arange(bands, dtype=np.int32), len(rows)),
        "band_key": keys.reshape(-1),
    })


def union_find(pairs: list[tuple[int, int]]) -> dict[int, int]:
    """source_row -> smallest source_row of its connected group, for rows in some pair."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: root(x) for x in parent}
