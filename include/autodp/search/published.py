"""What a finished search left in the store: its result (leaderboard, data card, the chosen
strategy and the published dataset), read by the steps that come after it (recipe
approval, the main job's summary) without loading the search itself."""

from __future__ import annotations

from typing import Any

from autodp.artifacts import PUBLISHED, RESULT_FILE
from autodp.store import ArtifactStore


def published_result(store: ArtifactStore, key: str) -> dict[str, Any]:
    return store.read_json(PUBLISHED, key, RESULT_FILE)
