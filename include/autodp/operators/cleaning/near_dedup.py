import tempfile
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from autodp.operators.base import OperatorParams, SignatureDeduplicator, Stage
from autodp.operators.batch import write_table
from autodp.tables.engine import spill_folder, sql_literal

# The universal hash family of datasketch: (a*h + b) mod (2^61 - 1), over 32-bit values.
MERSENNE = np.uint64((1 << 61) - 1)
MAX_HASH = np.uint64((1 << 32) - 1)
BLOCK_ROWS = 32_768  # records shingled and hashed at a time
TEXTS = {
    "record": "instruction || ' ' || input || ' ' || output",
    "prompt": "instruction || ' ' || input",
    "output": "output",
}


class NearDedup(SignatureDeduplicator):
    """Keeps one record per group of near-duplicates: MinHash over word or character n-gram
    shingles, locality-sensitive hashing into bands for candidates, then the candidates'
    estimated Jaccard similarity against the threshold.

    Shingling and the candidate join run in DuckDB; the MinHash signatures are computed
    with NumPy (vectorised over blocks of records), candidates are confirmed by their
    signatures' estimated Jaccard similarity, and groups are joined with union-find.
    """

    class Params(OperatorParams):
        threshold: float = Field(0.7, ge=0.1, le=1.0, description="Jaccard similarity at or above which records are duplicates")
        unit: Literal["word", "char"] = Field("word", description="shingles of words, or of characters")
        ngram: int = Field(3, ge=1, le=10, description="words (or characters) per shingle")
        num_perm: int = Field(128, ge=16, le=512, description="MinHash permutations")
        text: Literal["record", "prompt", "output"] = Field("record", description="which text is compared")
        seed: int = Field(42, ge=0)

    name = "near_dedup"
    stage: ClassVar[Stage] = "cleaning"
    reason: ClassVar[str] = "near_duplicate"

    def write_signatures(self, con, source, resources, path):
        """The MinHash signature of each record (``num_perm`` 32-bit values)."""
        p = self.params
        text = f"lower({TEXTS[p.text]})"
        if p.unit == "char":
            tokens = f"string_split(regexp_replace({text}, '\\s+', ' ', 'g'), '')"
        else:
            tokens = f"list_filter(string_split_regex({text}, '[^\\w]+'), w -> w <> '')"
        schema = pa.schema([("source_row", pa.int64()), ("signature", pa.list_(pa.uint32(), p.num_perm))])
        batches = con.execute(f"""
            select source_row, case when len(h) = 0 then [0::ubigint] else h end as hashes
            from (select source_row, list_transform({tokens}, t -> hash(t)) as h from {source})
            """).fetch_record_batch(BLOCK_ROWS)
        written = 0
        with pq.ParquetWriter(path, schema) as writer:
            for batch in batches:  # a block of records at a time: memory bounded by the block, not the dataset
                hashes = batch.column(1)
                offsets = hashes.offsets.to_numpy().astype(np.int64)
                values, offsets = shingle_hashes(hashes.values.to_numpy()[offsets[0]:offsets[-1]],
                                                 offsets - offsets[0], p.ngram)
                signatures = minhash_signatures(values, offsets, p.num_perm, p.seed)
                writer.write_table(pa.table({"source_row": batch.column(0), "signature": pa.FixedSizeListArray.from_arrays(
                    pa.array(signatures.reshape(-1), pa.uint32()), p.num_perm)}, schema=schema))
                written += batch.num_rows
        return written

    def groups_from(self, con, signatures):
        """Band keys a block of signatures at a time into a spill file, candidates from
        shared buckets in DuckDB, then each candidate pair's estimated Jaccard similarity,
        its two signatures joined back a block of pairs at a time, and union-find. Nothing
        held in memory grows with the records but the pairs that are duplicates."""
        p = self.params
        bands, rows_per_band = optimal_bands(p.threshold, p.num_perm)
        with tempfile.TemporaryDirectory(prefix="autodp-near-bands-", dir=spill_folder(con)) as folder:
            band_file = Path(folder) / "band_keys.parquet"
            schema = pa.schema([("source_row", pa.int64()), ("band", pa.int32()), ("band_key", pa.uint64())])
            with pq.ParquetWriter(band_file, schema) as writer:
                for batch in con.execute(f"select source_row, signature from {signatures}").fetch_record_batch(
                        BLOCK_ROWS):
                    rows = batch.column(0).to_numpy()
                    keys = band_hashes(signature_matrix(batch.column(1)), bands, rows_per_band, p.seed)
                    writer.write_table(_band_table(rows, keys).cast(schema))
            # Within a bucket every member is paired with the bucket's first member (a star, not
            # all pairs): linear in bucket size, and union-find joins what the stars connect.
            con.execute(f"""
                create or replace temp table _near_candidates as
                select distinct anchor as first, source_row as second from (
                    select source_row, min(source_row) over (partition by band, band_key) as anchor
                    from read_parquet({sql_literal(str(band_file))}))
                where source_row <> anchor""")
        pairs = []
        for batch in con.execute(f"""
                select c.first, c.second, a.signature, b.signature
                from _near_candidates c join {signatures} a on a.source_row = c.first
                join {signatures} b on b.source_row = c.second""").fetch_record_batch(BLOCK_ROWS):
            similar = estimated_jaccard(signature_matrix(batch.column(2)), signature_matrix(batch.column(3))) \
                >= p.threshold
            pairs.extend(zip(batch.column(0).to_numpy()[similar].tolist(), batch.column(1).to_numpy()[similar].tolist()))
        con.execute("drop table _near_candidates")
        members = union_find(pairs)
        write_table(con, "_near_groups", {"source_row": pa.array(list(members), pa.int64()),
                                          "group_id": pa.array(list(members.values()), pa.int64())})
        return "select source_row, group_id from _near_groups"


def signature_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """(records, width) array of a list column whose lists all have one length (a fixed-size
    list as written, a plain list once read back from Parquet)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    flat = column.flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(len(column), -1) if len(column) else flat.reshape(0, 1)


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


def shingle_hashes(tokens: np.ndarray, offsets: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every run of ``ngram`` consecutive tokens within each record (a record
    shorter than that gives one shingle of all its tokens), from per-token hashes; returns
    the flat hashes and each record's offsets into them."""
    tokens = tokens.astype(np.uint64)
    lengths = np.diff(offsets)
    if ngram == 1:
        return tokens, offsets
    total = len(tokens)
    end = np.repeat(offsets[1:], lengths)  # where each token's record ends
    position = np.arange(total)
    multipliers = np.random.default_rng(7).integers(1, 1 << 63, size=ngram, dtype=np.uint64) | np.uint64(1)
    padded = np.concatenate([tokens, np.zeros(ngram - 1, dtype=np.uint64)])
    combined = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(ngram):
            inside = (position + j < end).astype(np.uint64)
            combined += padded[j:j + total] * multipliers[j] * inside
    counts = np.maximum(lengths - ngram + 1, 1)
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    starts = np.repeat(offsets[:-1], counts) + (np.arange(new_offsets[-1]) - np.repeat(new_offsets[:-1], counts))
    return combined[starts], new_offsets


def minhash_signatures(values: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int,
                       chunk_values: int = 1 << 16) -> np.ndarray:
    """(records, num_perm) MinHash signatures from flattened shingle hashes; ``offsets``
    delimit each record's shingles (every record has at least one)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, int(MERSENNE), size=num_perm, dtype=np.uint64)[:, None]
    b = rng.integers(0, int(MERSENNE), size=num_perm, dtype=np.uint64)[:, None]
    values = values.astype(np.uint64) & MAX_HASH
    records = len(offsets) - 1
    signatures = np.empty((records, num_perm), dtype=np.uint32)
    start = 0
    with np.errstate(over="ignore"):
        while start < records:
            # The most records from ``start`` whose shingles fit in a chunk (at least one).
            stop = max(start + 1, int(np.searchsorted(offsets, offsets[start] + chunk_values, side="right")) - 1)
            stop = min(stop, records)
            block = values[offsets[start]:offsets[stop]]
            permuted = (a * block[None, :] + b) % MERSENNE & MAX_HASH
            signatures[start:stop] = np.minimum.reduceat(permuted, offsets[start:stop] - offsets[start], axis=1).T
            start = stop
    return signatures


def band_hashes(signatures: np.ndarray, bands: int, rows_per_band: int, seed: int) -> np.ndarray:
    """One uint64 key per (record, band): a hash of that band's slice of the signature."""
    rng = np.random.default_rng(seed + 1)
    mixer = rng.integers(1, 1 << 63, size=rows_per_band, dtype=np.uint64) | np.uint64(1)
    sliced = signatures[:, : bands * rows_per_band].astype(np.uint64).reshape(len(signatures), bands, rows_per_band)
    with np.errstate(over="ignore"):
        return (sliced * mixer).sum(axis=2, dtype=np.uint64)


def estimated_jaccard(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Share of equal MinHash values, row by row of two signature matrices: an unbiased
    estimate of each pair's Jaccard similarity."""
    return (first == second).mean(axis=1) if len(first) else np.empty(0, dtype=np.float64)


def _band_table(rows: np.ndarray, keys: np.ndarray):
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
