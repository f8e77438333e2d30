"""Every kind of artifact autodp keeps in the store, and the files each one holds.

An artifact is a folder ``<kind>/<key>/`` with its files and a ``manifest.json``
(``autodp.store``); its key is a content hash of what made it. This module is the one
place that names kinds and files: code that reads or writes an artifact imports the
names from here, and ``KINDS`` describes each for people and for the review pages.
"""

from __future__ import annotations

from dataclasses import dataclass

# Datasets: an ingested source, a sample, or the output of a strategy's prefix.
DATASETS = "datasets"
RECORDS_FILE = "records.parquet"  # canonical records (autodp.fields.CANONICAL_COLUMNS)
QUARANTINE_FILE = "quarantine.parquet"  # ingested datasets: rows that could not be used, with the reason
DROPS_FILE = "drops.parquet"  # applied steps: each record the step removed, with the reason
CHANGES_FILE = "changes.parquet"  # applied steps: each record the step rewrote or generated
# applied steps whose LLM calls failed after their retries or answered unreadably: per record
# (left as it was) the operator, the reason and how many calls
LLM_FAILURES_FILE = "llm_failures.parquet"
FIDELITY_FILE = "fidelity.json"  # samples: how well the sample preserves the full set's distribution
HELD_OUT_FILE = "held_out.parquet"  # evaluation splits: input source_rows held out of the search

PROFILES = "profiles"
PROFILE_FILE = "profile.json"

TARGETS = "targets"
FLAGS_FILE = "flags.parquet"  # per source_row: probability of low quality, flagged or not

ADAPTERS = "adapters"  # the files peft's save_pretrained writes

SCORES = "scores"
SCORES_FILE = "scores.parquet"  # per source_row: the quality score and each signal behind it

FEATURES = "features"  # gradient features of records (autodp.search.gradient_value)
FEATURES_FILE = "features.parquet"  # per record content key: its sketched LoRA gradient

EMBEDDINGS = "embeddings"  # sentence embeddings of texts, each computed once per store (autodp.models.embeddings)
EMBEDDINGS_FILE = "embeddings.parquet"  # per text (its SHA-256): its MiniLM vector

SEARCH_STEPS = "search_steps"  # small JSON results of search steps: proposals, baseline scores, verdicts
RESULT_FILE = "result.json"

PUBLISHED = "published"  # a finished search: its result, data card and the agent's audit log
DATA_CARD_FILE = "data_card.json"
DATA_CARD_MARKDOWN_FILE = "data_card.md"
AUDIT_FILE = "audit.jsonl"

RECIPES = "recipes"
RECIPE_FILE = "recipe.json"

DECISIONS = "decisions"  # the governance log: one artifact per approve, reject or retire, never rewritten
DECISION_FILE = "decision.json"

CURATED = "curated"  # a curation run of an approved recipe
VALIDATION_FILE = "validation.json"
DRIFT_FILE = "drift.json"  # a curated run's drift checks against the approved search and the previous run
# Published and curated artifacts also hold a Hugging Face dataset: README.md and data/*.parquet (autodp.exports).

EXPORTS = "exports"  # a dataset as JSONL in a fine-tuning tool's layout
EXPORT_FILE = "train.jsonl"

# A distilled augmentation model (autodp.augmentation): its base, adapter, task, teacher,
# data and scores; generation and refinement operators name it as ``model``.
AUGMENTATION_MODELS = "augmentation_models"
ENTRY_FILE = "entry.json"


@dataclass(frozen=True)
class ArtifactKind:
    name: str
    made_by: str
    keyed_by: str
    files: tuple[str, ...]


KINDS: dict[str, ArtifactKind] = {kind.name: kind for kind in (
    ArtifactKind(DATASETS, "ingest, sample, evaluation split, apply (one per strategy prefix)",
                 "source bytes and layout; parent dataset and sampling or split options; parent dataset and step",
                 (RECORDS_FILE, QUARANTINE_FILE, DROPS_FILE, CHANGES_FILE, LLM_FAILURES_FILE, FIDELITY_FILE,
                  HELD_OUT_FILE)),
    ArtifactKind(PROFILES, "profile", "dataset", (PROFILE_FILE,)),
    ArtifactKind(TARGETS, "target selection", "dataset, labeler and its options", (FLAGS_FILE,)),
    ArtifactKind(SCORES, "the quality scorer", "dataset, signals and the models behind them", (SCORES_FILE,)),
    ArtifactKind(ADAPTERS, "fine-tuning", "dataset, base model and LoRA settings", ()),
    ArtifactKind(FEATURES, "gradient features (autodp compare)", "the records' contents, base model, LoRA "
                 "initialisation and sketch", (FEATURES_FILE,)),
    ArtifactKind(EMBEDDINGS, "any step that embeds text (sampling, targeting, scoring, embedding operators)",
                 "the texts' contents and the embedding model", (EMBEDDINGS_FILE,)),
    ArtifactKind(SEARCH_STEPS, "search steps (propose, baseline, evaluate)", "the step's inputs", (RESULT_FILE,)),
    ArtifactKind(PUBLISHED, "search publish", "input dataset and search configuration",
                 (RESULT_FILE, DATA_CARD_FILE, DATA_CARD_MARKDOWN_FILE, AUDIT_FILE)),
    ArtifactKind(RECIPES, "recipe approval", "the approval", (RECIPE_FILE,)),
    ArtifactKind(DECISIONS, "a reviewer's approve, reject or retire", "the decision, its reviewer and time",
                 (DECISION_FILE,)),
    ArtifactKind(CURATED, "curation", "recipe and output dataset", (DATA_CARD_FILE, VALIDATION_FILE, DRIFT_FILE)),
    ArtifactKind(EXPORTS, "export (autodp_curate's export_layout Param)", "dataset and layout", (EXPORT_FILE,)),
    ArtifactKind(AUGMENTATION_MODELS, "distillation's register step (autodp distill, autodp_distill)",
                 "name, task, base, adapter, teacher, template and data", (ENTRY_FILE,)),
)}
