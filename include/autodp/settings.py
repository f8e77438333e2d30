"""Where autodp keeps things; every value has an embedded default that works offline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    store_uri: str

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("AUTODP_HOME", ".autodp")).expanduser().resolve()
        store_uri = os.environ.get("AUTODP_STORE") or str(home / "store")
        return cls(home=home, store_uri=store_uri)

    @property
    def duckdb_extension_dir(self) -> Path:
        return self.home / "duckdb_extensions"


def sqlite_metadata_url(path: Path) -> str:
    """Airflow's metadata database in SQLite (the embedded default), each connection waiting
    up to a minute for a lock: the scheduler, the api-server and running tasks all write to
    the one file."""
    return f"sqlite:///{path}?timeout=60"
