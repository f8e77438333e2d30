"""Where a benchmark keeps what it makes: ``$AUTODP_HOME/<name>/``, with its own local store."""

from __future__ import annotations

from pathlib import Path

from autodp.settings import Settings
from autodp.store import LocalStore


def workspace(name: str) -> tuple[Path, Settings, LocalStore]:
    """(the folder, settings whose store is the folder's, that store), the folder made."""
    home = Settings.from_env().home
    folder = home / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder, Settings(home=home, store_uri=str(folder / "store")), LocalStore(folder / "store")
