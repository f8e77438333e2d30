"""What a step works with besides its data, built once per task and passed down (never
read from process-wide state): the settings, the LLM endpoint of each role, and lazily
the clients and models made from them: the data-LLM client, the embedder and the
likelihood scorer that the executor injects into operators, the rows Processing
Target Selection flagged for the expensive operators, and the store the data lives in
(set by the step that reads it), where registered augmentation models are found and
embeddings are kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autodp.llm.endpoints import Endpoint, endpoints_from_env
from autodp.settings import Settings

if TYPE_CHECKING:
    from autodp.augmentation.student import Student
    from autodp.llm.client import LLMClient
    from autodp.models.embeddings import Embedder
    from autodp.models.likelihood import LikelihoodScorer
    from autodp.store import ArtifactStore


class MissingResource(RuntimeError):
    """An operator needs something the run was not given."""


@dataclass
class Resources:
    settings: Settings = field(default_factory=Settings.from_env)
    # role (agent, data, judge) -> endpoint; by default from AUTODP_<ROLE>_LLM_* or the local server
    endpoints: dict[str, Endpoint] = field(default_factory=endpoints_from_env)
    targets: frozenset[int] | None = None  # source_rows LLM operators may process; None: all
    quality_scores: dict[int, float] | None = None  # source_row -> classifier quality score
    store: ArtifactStore | None = None  # the store of the dataset being processed (apply_strategy sets it)
    _students: dict[str, Student] = field(default_factory=dict)
    _entries: dict[tuple[str, str], dict] = field(default_factory=dict)
    _llm: LLMClient | None = None
    _embedder: Embedder | None = None
    _scorer: LikelihoodScorer | None = None

    @property
    def llm(self) -> LLMClient:
        """The data-LLM client; its endpoint must be trusted, since operators send it records."""
        if self._llm is None:
            from autodp.llm.server import is_serving

            endpoint = self.endpoints["data"]
            endpoint.require_trusted("an LLM operator")
            if not is_serving(endpoint.base_url):
                raise MissingResource(f"the data LLM at {endpoint.base_url} is not answering; "
                                      "start it with `autodp llm serve` (or pass --start-llm)")
            self._llm = self.client("data", keep_going=True)
        self._llm.endpoint.require_trusted("an LLM operator")
        return self._llm

    def client(self, role: str, keep_going: bool = False) -> LLMClient:
        """A client for the role's endpoint, with its own response cache. ``keep_going``: a call
        that fails after its retries is counted and answered as no answer (operators leave the
        record as it is) instead of failing the step."""
        from autodp.llm.client import LLMClient

        return LLMClient(self.endpoints[role], cache_dir=self._cache(role if role != "data" else "llm"),
                         keep_going=keep_going)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from autodp.models.embeddings import Embedder

            self._embedder = Embedder(store=self.store, cache_dir=self._cache("embeddings"),
                                      precision=self.settings.embedding_precision, settings=self.settings)
        return self._embedder

    @property
    def scorer(self) -> LikelihoodScorer:
        if self._scorer is None:
            from autodp.models.likelihood import LikelihoodScorer

            self._scorer = LikelihoodScorer()
        return self._scorer

    def augmentation_entry(self, model: str, task: str) -> dict:
        """The registered augmentation model ``model`` (a name or an entry key) names for
        ``task``, resolved once per task run."""
        if (model, task) not in self._entries:
            if self.store is None:
                raise MissingResource(f"augmentation model {model!r}: no store to find it in")
            from autodp.augmentation.registry import resolve

            self._entries[(model, task)] = resolve(self.store, model, task)
        return self._entries[(model, task)]

    def student(self, model: str, task: str) -> Student:
        """The registered augmentation model, loaded in process on first use."""
        entry = self.augmentation_entry(model, task)
        if entry["key"] not in self._students:
            from autodp.augmentation.student import Student

            self._students[entry["key"]] = Student.of_entry(self.store, entry, self.settings,
                                                            self._cache("augmentation"))
        return self._students[entry["key"]]

    def using(self, store: ArtifactStore) -> Resources:
        """These resources, with ``store`` as the one augmentation models are found in and
        embeddings are kept in, when none was given."""
        if self.store is None:
            self.store = store
        if self._embedder is not None and self._embedder.store is None:
            self._embedder.store = self.store
        return self

    def llm_model(self) -> str:
        """Identity of the data LLM, part of the cache key of every LLM step."""
        endpoint = self._llm.endpoint if self._llm is not None else self.endpoints["data"]
        return f"{endpoint.base_url}#{endpoint.model}"

    def _cache(self, name: str) -> Path:
        path = self.settings.home / "cache" / name
        path.mkdir(parents=True, exist_ok=True)
        return path
