"""Where autodp keeps things; every value has an embedded default that works offline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    store_uri: str
    # DuckDB's memory budget per connection ("4GB"; AUTODP_DUCKDB_MEMORY_LIMIT): past it,
    # tables and sorts spill to duckdb_spill_dir. None: DuckDB's own default, 80% of RAM.
    duckdb_memory_limit: str | None = None
    # The license published and curated datasets declare in their Hugging Face card
    # (AUTODP_DATASET_LICENSE; an SPDX-style id such as "cc-by-4.0"): the source data's, which
    # autodp cannot know, so "unknown" until a deployment says.
    dataset_license: str = "unknown"
    # Datasets above this many rows are applied in shards of this size (AUTODP_SHARD_ROWS).
    shard_rows: int = 250_000
    # The embedding model's number format (AUTODP_EMBEDDING_PRECISION): "auto" runs bfloat16
    # where the hardware multiplies it natively and float32 elsewhere.
    embedding_precision: str = "auto"

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("AUTODP_HOME", ".autodp")).expanduser().resolve()
        store_uri = os.environ.get("AUTODP_STORE") or str(home / "store")
        return cls(home=home, store_uri=store_uri,
                   duckdb_memory_limit=os.environ.get("AUTODP_DUCKDB_MEMORY_LIMIT") or None,
                   dataset_license=os.environ.get("AUTODP_DATASET_LICENSE") or "unknown",
                   shard_rows=_positive_int("AUTODP_SHARD_ROWS", 250_000),
                   embedding_precision=os.environ.get("AUTODP_EMBEDDING_PRECISION") or "auto")

    @property
    def duckdb_extension_dir(self) -> Path:
        return self.home / "duckdb_extensions"

    @property
    def duckdb_spill_dir(self) -> Path:
        return self.home / "duckdb_spill"


def _positive_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: expected a positive whole number")
    return int(value)


def sqlite_metadata_url(path: Path) -> str:
    """Airflow's metadata database in SQLite (the embedded default), each connection waiting
    up to a minute for a lock: the scheduler, the api-server and running tasks all write to
    the one file."""
    return f"sqlite:///{path}?timeout=60"
