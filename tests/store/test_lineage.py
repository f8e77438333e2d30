"""What ingest and apply report for OpenLineage: the source and the store's artifact folders,
named by OpenLineage's naming spec on both backends, and nothing outside a collection."""

from autodp.artifacts import DATASETS
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.store import LocalStore, lineage
from tests.conftest import record, write_lines


def test_ingest_and_apply_name_the_source_and_the_artifacts(store, tmp_path):
    source = write_lines(tmp_path / "d.jsonl", [record(f"Q{i}?", output="" if i % 3 else "A.") for i in range(9)])
    with lineage.collecting() as collected:
        key = ingest(str(source), store)["dataset_key"]
        output = apply_strategy(key, Strategy.from_data([{"operator": "drop_empty_output"}]), store)["output_key"]
    if isinstance(store, LocalStore):
        namespace, folder = "file", f"{store.root}/datasets/"
    else:
        namespace, folder = f"s3://{store.bucket}", f"{store.prefix}/datasets/"
    ingested = lineage.LineageDataset(namespace, folder + key, key, DATASETS)
    assert collected.inputs == [lineage.LineageDataset("file", str(source)), ingested]
    assert collected.outputs == [ingested, lineage.LineageDataset(namespace, folder + output, output, DATASETS)]


def test_names_follow_the_openlineage_spec():
    assert lineage.dataset_name("s3://bucket/a/b.jsonl") == ("s3://bucket", "a/b.jsonl")
    assert lineage.dataset_name("file:///data/x.json") == ("file", "/data/x.json")
    assert lineage.dataset_name("/data/y.parquet") == ("file", "/data/y.parquet")


def test_work_after_a_collection_ends_is_not_added_to_it(local_store, tmp_path):
    first, later = (write_lines(tmp_path / f"{name}.jsonl", [record(name)]) for name in ("first", "later"))
    with lineage.collecting() as collected:
        ingest(str(first), local_store)
    ingest(str(later), local_store)  # outside any collection: reported to no one, and no error
    assert [d.name for d in collected.inputs] == [str(first)] and len(collected.outputs) == 1
