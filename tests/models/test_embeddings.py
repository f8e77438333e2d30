"""Embeddings are computed once per store: a second worker (its own process state and
machine cache) reads the vectors the first one stored, locally and on S3, and the stored
parts are plain Parquet keyed by each text's SHA-256."""

import duckdb
import numpy as np
import pytest

from autodp.artifacts import EMBEDDINGS, EMBEDDINGS_FILE
from autodp.models.base import native_precision
from autodp.models.embeddings import MODEL, Embedder, text_key

TEXTS = ["What is asthma?", "Asthma inflames and narrows the airways.", "What causes gout?",
         "What is asthma?"]


def test_a_second_worker_embeds_nothing_the_first_one_stored(store, tmp_path):
    first = Embedder(store=store, cache_dir=tmp_path / "first-machine")
    vectors = first.encode(TEXTS)
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert (first.computed, first.cached) == (3, 0)
    assert np.array_equal(vectors[0], vectors[3])

    fresh_worker = Embedder(store=store, cache_dir=tmp_path / "second-machine")
    again = fresh_worker.encode(list(reversed(TEXTS)) + ["What causes gout?"])
    assert (fresh_worker.computed, fresh_worker.cached) == (0, 5)
    assert np.array_equal(again[:4], vectors[::-1])

    more = fresh_worker.encode(["How is the flu spread?", "What is asthma?"])
    assert (fresh_worker.computed, fresh_worker.cached) == (1, 6)
    assert Embedder(store=store).encode(["How is the flu spread?"]) == pytest.approx(more[:1])


def test_the_stored_parts_are_parquet_keyed_by_text_and_name_their_model(local_store):
    Embedder(store=local_store).encode(TEXTS)
    (part,) = local_store.artifacts(EMBEDDINGS)
    manifest = local_store.manifest(EMBEDDINGS, part)
    assert manifest["provenance"]["model"] == MODEL and manifest["summary"]["texts"] == 3
    rows = duckdb.sql(f"select text_sha256, len(vector) as dims from "
                      f"'{local_store.file_location(EMBEDDINGS, part, EMBEDDINGS_FILE)}'").fetchall()
    assert sorted(rows) == sorted((text_key(t), 384) for t in set(TEXTS))
    assert "asthma" not in local_store.read_bytes(local_store.artifact_path(EMBEDDINGS, part, EMBEDDINGS_FILE)) \
        .decode("latin-1")  # vectors and hashes only: the texts stay in the datasets


def test_without_a_store_the_machine_cache_keeps_them(tmp_path):
    Embedder(cache_dir=tmp_path / "cache").encode(TEXTS[:2])
    later = Embedder(cache_dir=tmp_path / "cache")
    later.encode(TEXTS[:2])
    assert (later.computed, later.cached) == (0, 2)


def test_bfloat16_gives_the_same_directions_as_float32(tmp_path):
    texts = TEXTS[:3] + ["The stock market closed higher on Friday.", "Gout is caused by uric acid crystals."]
    single = Embedder(precision="float32").encode(texts)
    half = Embedder(precision="bfloat16").encode(texts)
    assert np.sum(single * half, axis=1).min() > 0.999
    assert np.argsort(single @ single.T, axis=1).tolist() == np.argsort(half @ half.T, axis=1).tolist()


def test_precision_follows_the_hardware_and_refuses_unknown_names():
    assert native_precision("cpu", frozenset({"avx2", "avx512_bf16"})) == "bfloat16"
    assert native_precision("cpu", frozenset({"avx2", "amx_bf16"})) == "bfloat16"
    assert native_precision("cpu", frozenset({"avx2", "avx512f"})) == "float32"
    assert native_precision("cuda:0", frozenset()) == "bfloat16"
    with pytest.raises(ValueError, match="float16"):
        Embedder(precision="float16")


def test_a_worker_holds_the_vectors_it_asked_for_not_the_whole_store(local_store):
    Embedder(store=local_store).encode([f"text number {i}" for i in range(40)])
    worker = Embedder(store=local_store)
    worker.encode(["text number 3", "text number 7"])
    assert (worker.computed, worker.cached) == (0, 2)
    assert len(worker._vectors) == 2 and len(worker._index) == 40
