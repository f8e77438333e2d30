"""What operators may use besides records, injected by the executor (never fetched by an
operator itself): the data-LLM client, the embedder, a likelihood scorer, and the rows
that Processing Target Selection flagged for the expensive operators."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autodp.settings import Settings

if TYPE_CHECKING:
    from autodp.embeddings import Embedder
    from autodp.likelihood import LikelihoodScorer
    from autodp.llm.client import LLMClient


class MissingResource(RuntimeError):
    """An operator needs something the run was not given."""


@dataclass
class Resources:
    settings: Settings = field(default_factory=Settings.from_env)
    targets: frozenset[int] | None = None  # source_rows LLM operators may process; None: all
    quality_scores: dict[int, float] | None = None  # source_row -> classifier quality score
    _llm: LLMClient | None = None
    _embedder: Embedder | None = None
    _scorer: LikelihoodScorer | None = None

    @property
    def llm(self) -> LLMClient:
        """The data-LLM client; its endpoint must be trusted, since operators send it records."""
        if self._llm is None:
            from autodp.llm.client import LLMClient
            from autodp.llm.endpoints import Endpoint

            endpoint = Endpoint.from_env("data")
            endpoint.require_trusted("an LLM operator")
            from autodp.llm.server import is_serving

            if not is_serving(endpoint.base_url):
                raise MissingResource(f"the data LLM at {endpoint.base_url} is not answering; "
                                      "start it with `autodp llm serve` (or pass --start-llm)")
            self._llm = LLMClient(endpoint, cache_dir=self._cache("llm"))
        self._llm.endpoint.require_trusted("an LLM operator")
        return self._llm

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from autodp.embeddings import Embedder

            self._embedder = Embedder(cache_dir=self._cache("embeddings"))
        return self._embedder

    @property
    def scorer(self) -> LikelihoodScorer:
        if self._scorer is None:
            from autodp.likelihood import LikelihoodScorer

            self._scorer = LikelihoodScorer()
        return self._scorer

    def llm_model(self) -> str:
        """Identity of the data LLM, part of the cache key of every LLM step."""
        from autodp.llm.endpoints import Endpoint

        endpoint = self._llm.endpoint if self._llm is not None else Endpoint.from_env("data")
        return f"{endpoint.base_url}#{endpoint.model}"

    def _cache(self, name: str) -> Path:
        path = self.settings.home / "cache" / name
        path.mkdir(parents=True, exist_ok=True)
        return path
