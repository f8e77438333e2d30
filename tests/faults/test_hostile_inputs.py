"""Hostile locations: a DAG run's source outside the allowed roots (``..``, a symlink out,
``file://`` tricks, another scheme, another bucket) and a store key that climbs out of the
store are refused, naming the field; nothing outside is read or written."""

from __future__ import annotations

import json

import pytest

from autodp.ingest.sources import SourceRefused, allowed_source
from autodp.store import LocalStore
from tests.faults.conftest import cli


@pytest.fixture
def roots(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "data.jsonl").write_text('{"instruction": "q", "output": "a"}\n')
    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"instruction": "private", "output": "private"}\n')
    (allowed / "link.jsonl").symlink_to(secret)
    return allowed, secret, [str(allowed), "s3://team-bucket/incoming"]


def test_sources_inside_the_roots_are_read(roots):
    allowed, _, permitted = roots
    assert allowed_source(str(allowed / "data.jsonl"), roots=permitted) == str(allowed / "data.jsonl")
    assert allowed_source(f"file://{allowed}/data.jsonl", roots=permitted) == str(allowed / "data.jsonl")
    assert allowed_source(str(allowed / "sub" / ".." / "data.jsonl"), roots=permitted) == str(allowed / "data.jsonl")
    assert allowed_source("s3://team-bucket/incoming/day1.jsonl", roots=permitted) == \
        "s3://team-bucket/incoming/day1.jsonl"


@pytest.mark.parametrize("hostile", [
    "{allowed}/../secret.jsonl",            # climbing out
    "{allowed}/link.jsonl",                 # a symlink pointing out
    "file://{allowed}/../secret.jsonl",     # the same through a file:// URL
    "file://{allowed}/%2e%2e/secret.jsonl",  # percent-encoded dots
    "file://otherhost/{allowed}/data.jsonl",  # a file:// URL naming a host
    "http://169.254.169.254/latest/meta-data",  # another scheme
    "s3://other-bucket/incoming/x.jsonl",   # another bucket
    "s3://team-bucket/incoming-but-not/x.jsonl",  # a prefix that only starts alike
    "s3://team-bucket/incoming/../private/x.jsonl",
    "{secret}",
])
def test_sources_outside_the_roots_are_refused_naming_the_field(roots, hostile):
    allowed, secret, permitted = roots
    with pytest.raises(SourceRefused, match=r"^eval: "):
        allowed_source(hostile.format(allowed=allowed, secret=secret), field="eval", roots=permitted)


def test_a_store_key_that_climbs_out_is_refused(tmp_path, cli_env):
    store = LocalStore(tmp_path / "store")
    outside = tmp_path / "outside"
    outside.mkdir()
    for key in ("../../outside", "../../../outside/x"):
        with pytest.raises(ValueError, match="leaves the store root"):
            store.write_bytes(f"datasets/{key}/manifest.json", b"{}")
    for key in ("../../outside", "../outside/x", "/etc", "..", "%2e%2e"):
        strategy = tmp_path / "s.json"
        strategy.write_text(json.dumps({"name": "n", "steps": [{"operator": "exact_dedup"}]}))
        done = cli(["apply", key, "--strategy", str(strategy), "--store", str(store.root)], cli_env)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert list(outside.iterdir()) == []
    (store.root / "datasets").mkdir(parents=True, exist_ok=True)
    (store.root / "datasets" / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="leaves the store root"):
        store.write_bytes("datasets/escape/manifest.json", b"{}")
    assert list(outside.iterdir()) == []
