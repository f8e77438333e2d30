"""A strategy applied to a dataset in shards, so no task holds more than one shard.

The dataset is split into shards of a bounded row count by source_row (each an ordinary
dataset artifact, content-keyed). The strategy runs in *rounds*: in a round every shard
runs, on its own, the steps whose outcome for a record depends on that record alone
(``Operator.is_row_local``), then the round ends at a step that needs the whole dataset:

- a ``SignatureDeduplicator`` (exact, near and semantic dedup) is decided in two phases: each shard
  stores its records' signatures, one decision over all of them in DuckDB names the
  duplicates, and the next round's shard tasks drop them first;
- any other dataset-wide step (mismatched answers, diversity selection, ranking, generation)
  runs once over the shards gathered into one dataset, whose output is split back at the
  same bounds.

Every piece is stored under a content key, so a failed shard retries alone and a rerun
recomputes nothing. ``merge`` joins the last round's shards into one dataset with the same
records, order, drops and reasons as ``apply_strategy`` gives on the unsharded dataset;
its drops and changes carry the step they came from. ``apply`` (publish and curate) and
``apply_sharded`` run the rounds in one process (``run_rounds``, which ``curate`` calls too);
``autodp_curate`` runs the same steps as tasks: ``plan``, each round's ``shard`` as mapped tasks and its ``advance``, then ``merge``.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from autodp.artifacts import CHANGES_FILE, DATASETS, DROPS_FILE, LLM_FAILURES_FILE, RECORDS_FILE
from autodp.execution.executor import apply_strategy, step_key_material
from autodp.execution.strategy import Strategy
from autodp.hashing import content_key
from autodp.operators.base import SignatureDeduplicator, duplicates_sql, prepare_connection
from autodp.operators.resources import Resources
from autodp.state import JsonState
from autodp.store import ArtifactStore, lineage
from autodp.tables import engine

SHARD_VERSION = "1"
SHARD_SIGNATURES = "shard_signatures"  # artifact kind: one shard's signatures for a two-phase step
SIGNATURES_FILE = "signatures.parquet"
SHARD_DECISIONS = "shard_decisions"  # artifact kind: the duplicates one two-phase decision names
DUPLICATES_FILE = "duplicates.parquet"  # source_row, kept_row
# Rounds the autodp_curate DAG has room for: a strategy with more dataset-wide steps is
# applied in one task there.
MAX_ROUNDS = 4


@dataclass(frozen=True)
class Round:
    steps: tuple[int, ...]  # indices of the row-local steps every shard runs
    decision: int | None  # index of the dataset-wide step after them (None in the last round)
    mode: Literal["signatures", "gather"] | None


def rounds(strategy: Strategy) -> list[Round]:
    found, local = [], []
    for index, step in enumerate(strategy.steps):
        if step.operator.is_row_local():
            local.append(index)
            continue
        mode = "signatures" if isinstance(step.operator, SignatureDeduplicator) else "gather"
        found.append(Round(tuple(local), index, mode))
        local = []
    found.append(Round(tuple(local), None, None))
    return found


@dataclass(frozen=True)
class ShardPlan(JsonState):
    """What every task of a sharded apply needs; small enough for XCom."""

    dataset_key: str
    strategy: list[dict[str, Any]]
    shard_rows: int
    bounds: list[int]  # the first source_row of each shard
    shards: list[str]  # the shard dataset keys

    @classmethod
    def make(cls, store: ArtifactStore, dataset_key: str, strategy: Strategy, shard_rows: int,
             resources: Resources | None = None) -> ShardPlan:
        """Split the dataset into shards of ``shard_rows`` rows (stored once) and plan the rounds."""
        resources = (resources or Resources()).using(store)
        location = store.file_location(DATASETS, dataset_key, RECORDS_FILE)
        with engine.connect(store, settings=resources.settings) as con:
            bounds = [row for (row,) in con.execute(
                "select source_row from (select source_row, row_number() over (order by source_row) - 1 as n "
                f"from read_parquet(?)) where n % {int(shard_rows)} = 0 order by source_row", [location]).fetchall()]
        shards = split(store, dataset_key, bounds or [0], resources)
        return cls(dataset_key, strategy.canonical()["steps"], shard_rows, bounds or [0], shards)

    def parsed(self) -> Strategy:
        return Strategy.from_data(self.strategy)

    def rounds(self) -> list[Round]:
        return rounds(self.parsed())


@dataclass(frozen=True)
class ShardTask(JsonState):
    """One shard's work in one round (a mapped task of ``autodp_curate``)."""

    round_index: int
    shard_key: str
    decision: dict[str, Any] | None = None  # the previous round's decision, whose duplicates it drops first


@dataclass(frozen=True)
class Planned(JsonState):
    """What ``plan`` decided: the dataset applied here in one task (``applied``), or split
    into shards (``plan``) with the first round's ``tasks``."""

    applied: dict[str, Any] | None
    plan: ShardPlan | None = None
    started: float | None = None  # time.time() when the sharded apply began
    tasks: tuple[ShardTask, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "plan": self.plan.to_dict() if self.plan else None, "started": self.started,
                "tasks": [task.to_dict() for task in self.tasks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Planned:
        return cls(data["applied"], ShardPlan.from_dict(data["plan"]) if data["plan"] else None, data["started"],
                   tuple(ShardTask.from_dict(task) for task in data.get("tasks", ())))


@dataclass(frozen=True)
class Advanced(JsonState):
    """What ``advance`` decided after a round: its dataset-wide decision, and the next round's tasks."""

    decision: dict[str, Any] | None
    tasks: tuple[ShardTask, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "tasks": [task.to_dict() for task in self.tasks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Advanced:
        return cls(data["decision"], tuple(ShardTask.from_dict(task) for task in data.get("tasks", ())))


def split(store: ArtifactStore, dataset_key: str, bounds: list[int], resources: Resources) -> list[str]:
    """Shard datasets of ``dataset_key``: shard i holds source_rows from ``bounds[i]`` up to
    the next bound (the last shard: every row after, generated rows included)."""
    keys = [content_key("shard", SHARD_VERSION, {"dataset": dataset_key, "bounds": bounds, "index": i})
            for i in range(len(bounds))]
    missing = [i for i, key in enumerate(keys) if not store.has(DATASETS, key)]
    if missing:
        location = store.file_location(DATASETS, dataset_key, RECORDS_FILE)
        with engine.connect(store, settings=resources.settings) as con, \
                tempfile.TemporaryDirectory(prefix="autodp-shard-") as tmp:
            for i in missing:
                where = " and ".join([*([f"source_row >= {bounds[i]}"] if i else []),
                                      *([f"source_row < {bounds[i + 1]}"] if i + 1 < len(bounds) else [])]) or "true"
                path = Path(tmp) / f"{i}.parquet"
                con.execute(f"copy (select * from read_parquet(?) where {where} order by source_row) "
                            f"to '{path}' (format parquet)", [location])
                (rows,) = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()
                store.publish(DATASETS, keys[i], {RECORDS_FILE: path},
                              provenance={"step": "shard", "version": SHARD_VERSION, "dataset": dataset_key,
                                          "bounds": bounds, "index": i},
                              summary={"dataset_key": keys[i], "rows": rows, "shard": i, "of": len(bounds)})
    return keys


def shard(store: ArtifactStore, shard_plan: ShardPlan, task: ShardTask, resources: Resources | None = None
          ) -> dict[str, Any]:
    """One shard's work in one round: the previous round's duplicates dropped, this round's
    row-local steps, then this round's signatures when its decision needs them."""
    resources = (resources or Resources()).using(store)
    strategy = shard_plan.parsed()
    planned = rounds(strategy)[task.round_index]
    pieces: list[dict[str, Any]] = []
    key = task.shard_key
    if task.decision and task.decision.get("duplicates_key"):
        key, piece = _drop_duplicates(store, key, task.decision, strategy, resources)
        pieces.append(piece)
    if planned.steps:
        applied = apply_strategy(key, Strategy(tuple(strategy.steps[i] for i in planned.steps)), store, resources)
        pieces += [{**step, "step": planned.steps[step["step"] - 1] + 1} for step in applied["steps"]]
        key = applied["output_key"]
    signatures = None
    if planned.mode == "signatures":
        signatures = _signatures(store, key, planned.decision, strategy, resources)
    return {"key": key, "pieces": pieces, "signatures_key": signatures}


def decide(store: ArtifactStore, shard_plan: ShardPlan, round_index: int, shard_results: list[dict[str, Any]],
           resources: Resources | None = None) -> dict[str, Any]:
    """The round's dataset-wide step, once: the duplicates over every shard's signatures, or
    the step over the shards gathered (then split back). Returns what the next round's
    shard tasks start from."""
    resources = (resources or Resources()).using(store)
    strategy = shard_plan.parsed()
    planned = rounds(strategy)[round_index]
    step = strategy.steps[planned.decision]
    keys = [r["key"] for r in shard_results]
    if planned.mode == "signatures":
        duplicates_key = _decide_duplicates(store, [r["signatures_key"] for r in shard_results], step, resources)
        return {"shards": keys, "duplicates_key": duplicates_key, "step": planned.decision, "pieces": []}
    gathered = _gather(store, keys, resources)
    applied = apply_strategy(gathered, Strategy((step,)), store, resources)
    pieces = [{**s, "step": planned.decision + 1} for s in applied["steps"]]
    return {"shards": split(store, applied["output_key"], shard_plan.bounds, resources), "duplicates_key": None,
            "step": planned.decision, "pieces": pieces}


def _merged(store: ArtifactStore, shard_plan: ShardPlan, history: list[dict[str, Any]], final: list[str],
          started: float | None = None, resources: Resources | None = None) -> dict[str, Any]:
    """The last round's shards as one dataset: records in source_row order, and every
    step's drops, changes and LLM failures with their step. ``history`` holds every round's
    shard results and decisions, ``started`` the wall-clock start (``time.time()``);
    returns a summary shaped like ``apply_strategy``'s."""
    resources = (resources or Resources()).using(store)
    pieces = [p for entry in history for p in entry["pieces"]]
    strategy = shard_plan.parsed()
    steps = _step_summaries(strategy, pieces)
    key = content_key("apply-sharded", SHARD_VERSION, {"dataset": shard_plan.dataset_key, "shards": final,
                                                       "pieces": sorted(p["key"] for p in pieces)})
    if not store.has(DATASETS, key):
        with engine.connect(store, settings=resources.settings) as con, \
                tempfile.TemporaryDirectory(prefix="autodp-merge-") as tmp:
            files = {RECORDS_FILE: Path(tmp) / RECORDS_FILE}
            con.execute(f"copy (select * from read_parquet(?) order by source_row) to '{files[RECORDS_FILE]}' "
                        "(format parquet)", [[store.file_location(DATASETS, k, RECORDS_FILE) for k in final]])
            for name in (DROPS_FILE, CHANGES_FILE, LLM_FAILURES_FILE):
                # every piece has drops and changes; only those whose LLM calls failed list failures
                having = [p for p in pieces if name != LLM_FAILURES_FILE
                          or name in store.manifest(DATASETS, p["key"])["files"]]
                if having:
                    files[name] = Path(tmp) / name
                    _stack_by_step(con, store, having, name, files[name])
            store.publish(DATASETS, key, files,
                          provenance={"step": "apply-sharded", "version": SHARD_VERSION,
                                      "dataset": shard_plan.dataset_key, "shards": final, "strategy": shard_plan.strategy},
                          summary={"dataset_key": key, "rows_out": steps[-1]["rows_out"] if steps else None,
                                   "shards": len(final), "steps": steps})
    lineage.read_artifact(store, DATASETS, shard_plan.dataset_key)
    lineage.wrote_artifact(store, DATASETS, key)
    computed = [p for p in pieces if p.get("cache") == "miss"]
    return {
        "dataset_key": shard_plan.dataset_key,
        "strategy_key": strategy.key(),
        "output_key": key,
        "rows_in": steps[0]["rows_in"] if steps else None,
        "rows_out": steps[-1]["rows_out"] if steps else None,
        "shards": len(final),
        "cache_hits": sum(p.get("cache") == "hit" for p in pieces),
        "cache_misses": len(computed),
        "llm_calls": sum(p.get("llm_calls", 0) for p in computed),
        "llm_rows_skipped": sum(p.get("llm_rows_skipped", 0) for p in computed),
        "llm_failures": dict(sum((Counter(p.get("llm_failures", {})) for p in computed), Counter())),
        "seconds": round(time.time() - started, 3) if started is not None else None,
        "steps": steps,
    }


def plan(store: ArtifactStore, dataset_key: str, strategy: Strategy, resources: Resources | None = None,
         shard_rows: int | None = None, reuse: bool = True, max_rounds: int | None = MAX_ROUNDS) -> Planned:
    """The first step of an apply: a dataset of at most ``shard_rows`` rows (default
    AUTODP_SHARD_ROWS), or a strategy needing more rounds than ``max_rounds`` (what the
    DAG has room for), is applied here in one task; a larger one is split and planned."""
    resources = (resources or Resources()).using(store)
    shard_rows = shard_rows or resources.settings.shard_rows
    if (not reuse or not strategy.steps or (max_rounds is not None and len(rounds(strategy)) > max_rounds)
            or dataset_rows(store, dataset_key, resources) <= shard_rows):
        return Planned(apply_strategy(dataset_key, strategy, store, resources, reuse=reuse))
    return _sharded(ShardPlan.make(store, dataset_key, strategy, shard_rows, resources))


def _sharded(shard_plan: ShardPlan) -> Planned:
    return Planned(None, shard_plan, time.time(), tuple(ShardTask(0, key) for key in shard_plan.shards))


def advance(store: ArtifactStore, shard_plan: ShardPlan, round_index: int, results: list[dict[str, Any]],
            resources: Resources | None = None) -> Advanced:
    """After a round's shard tasks: its decision, and the next round's shard tasks (none
    after the last round)."""
    if shard_plan.rounds()[round_index].decision is None:
        return Advanced(None)
    decision = decide(store, shard_plan, round_index, results, resources)
    return Advanced(decision, tuple(ShardTask(round_index + 1, key, decision) for key in decision["shards"]))


def merge(store: ArtifactStore, planned: Planned, round_results: list[list[dict[str, Any]] | None],
          advances: list[Advanced | None], resources: Resources | None = None) -> dict[str, Any]:
    """The apply's result: the one-task result, or the last round's shards as one dataset."""
    if planned.applied is not None:
        return planned.applied
    history, final = [], []
    for results, advanced in zip(round_results, advances, strict=True):
        if not results:
            break
        history += results
        final = [r["key"] for r in results]
        if advanced and advanced.decision:
            history.append(advanced.decision)
    return _merged(store, planned.plan, history, final, planned.started, resources)


def apply_sharded(dataset_key: str, strategy: Strategy, store: ArtifactStore, resources: Resources | None = None,
                  shard_rows: int | None = None) -> dict[str, Any]:
    """Every round, one shard task after another, and ``merge``, in this process, sharded
    whatever the size (a strategy without steps has nothing to shard)."""
    resources = (resources or Resources()).using(store)
    if not strategy.steps:
        return apply_strategy(dataset_key, strategy, store, resources)
    planned = _sharded(ShardPlan.make(store, dataset_key, strategy, shard_rows or resources.settings.shard_rows,
                                      resources))
    return run_rounds(store, planned, resources)


def apply(dataset_key: str, strategy: Strategy, store: ArtifactStore, resources: Resources | None = None,
          reuse: bool = True) -> dict[str, Any]:
    """What publish and curate call: ``apply_strategy`` for a dataset of at most
    AUTODP_SHARD_ROWS rows, the sharded apply above it."""
    resources = (resources or Resources()).using(store)
    return run_rounds(store, plan(store, dataset_key, strategy, resources, reuse=reuse, max_rounds=None), resources)


def run_rounds(store: ArtifactStore, planned: Planned, resources: Resources) -> dict[str, Any]:
    """What ``plan`` planned, in this process: the one-task result as it is, else every
    round's ``shard`` tasks one after another with its ``advance``, then ``merge``."""
    if planned.plan is None:
        return planned.applied
    tasks, round_results, advances = planned.tasks, [], []
    for index in range(len(planned.plan.rounds())):
        results = [shard(store, planned.plan, task, resources) for task in tasks]
        advanced = advance(store, planned.plan, index, results, resources)
        round_results.append(results)
        advances.append(advanced)
        tasks = advanced.tasks
    return merge(store, planned, round_results, advances, resources)


def dataset_rows(store: ArtifactStore, dataset_key: str, resources: Resources | None = None) -> int:
    with engine.connect(store, settings=(resources or Resources()).settings) as con:
        return con.execute("select count(*) from read_parquet(?)",
                           [store.file_location(DATASETS, dataset_key, RECORDS_FILE)]).fetchone()[0]


def _signatures(store: ArtifactStore, dataset_key: str, index: int, strategy: Strategy,
                resources: Resources) -> str:
    step = strategy.steps[index]
    key = content_key("shard-signatures", SHARD_VERSION,
                      {"dataset": dataset_key, "step": step_key_material(step, resources)})
    if not store.has(SHARD_SIGNATURES, key):
        with engine.connect(store, settings=resources.settings) as con, \
                tempfile.TemporaryDirectory(prefix="autodp-signatures-") as tmp:
            con.execute("create temp table shard as select * from read_parquet(?)",
                        [store.file_location(DATASETS, dataset_key, RECORDS_FILE)])
            path = Path(tmp) / SIGNATURES_FILE
            rows = step.operator.write_signatures(con, "shard", resources, path)
            store.publish(SHARD_SIGNATURES, key, {SIGNATURES_FILE: path},
                          provenance={"step": "shard-signatures", "dataset": dataset_key,
                                      "operator": step_key_material(step, resources)},
                          summary={"rows": rows})
    return key


def _decide_duplicates(store: ArtifactStore, signature_keys: list[str], step, resources: Resources) -> str:
    key = content_key("shard-decision", SHARD_VERSION,
                      {"signatures": signature_keys, "step": step_key_material(step, resources)})
    if not store.has(SHARD_DECISIONS, key):
        with engine.connect(store, settings=resources.settings) as con, \
                tempfile.TemporaryDirectory(prefix="autodp-decision-") as tmp:
            files = ", ".join(engine.sql_literal(store.file_location(SHARD_SIGNATURES, k, SIGNATURES_FILE))
                              for k in signature_keys)
            signatures = f"read_parquet([{files}])"
            (rows,) = con.execute(f"select count(*) from {signatures}").fetchone()
            groups = step.operator.groups_from(con, signatures)
            path = Path(tmp) / DUPLICATES_FILE
            con.execute(f"copy (select * from ({duplicates_sql(groups)}) order by source_row) "
                        f"to '{path}' (format parquet)")
            (count,) = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()
            store.publish(SHARD_DECISIONS, key, {DUPLICATES_FILE: path},
                          provenance={"step": "shard-decision", "signatures": signature_keys,
                                      "operator": step_key_material(step, resources)},
                          summary={"duplicates": count, "rows": rows})
    return key


def _drop_duplicates(store: ArtifactStore, shard_key: str, decision: dict[str, Any], strategy: Strategy,
                     resources: Resources) -> tuple[str, dict[str, Any]]:
    """The shard without the duplicates the decision names: a dataset with the step's drops."""
    step_index = decision["step"]
    step = strategy.steps[step_index]
    key = content_key("shard-decided", SHARD_VERSION, {"shard": shard_key, "duplicates": decision["duplicates_key"]})
    if store.has(DATASETS, key):
        return key, {**store.manifest(DATASETS, key)["summary"], "cache": "hit"}
    started = time.perf_counter()
    with engine.connect(store, settings=resources.settings) as con, \
            tempfile.TemporaryDirectory(prefix="autodp-decided-") as tmp:
        prepare_connection(con, store.file_location(DATASETS, shard_key, RECORDS_FILE), "shard")
        con.execute(f"set variable autodp_step = {step_index + 1}")
        con.execute("create temp table decided as select * from read_parquet(?)",
                    [store.file_location(SHARD_DECISIONS, decision["duplicates_key"], DUPLICATES_FILE)])
        step.operator.drop_duplicates(con, "shard", "kept", "decided")
        folder = Path(tmp)
        con.execute(f"copy (select * from kept order by source_row) to '{folder / RECORDS_FILE}' (format parquet)")
        con.execute(f"copy (select * exclude (step) from drops) to '{folder / DROPS_FILE}' (format parquet)")
        con.execute(f"copy (select * exclude (step) from changes) to '{folder / CHANGES_FILE}' (format parquet)")
        rows_in, rows_out = (con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("shard", "kept"))
        dropped = dict(con.execute("select reason, count(*) from drops group by reason order by reason").fetchall())
        summary = {"step": step_index + 1, "operator": step.name, "version": step.operator.version,
                   "params": step.canonical()["params"], "key": key, "rows_in": rows_in, "rows_out": rows_out,
                   "dropped": dropped, "changed": {}, "added": 0, "llm_calls": 0, "llm_rows_skipped": 0,
                   "llm_failures": {}, "seconds": round(time.perf_counter() - started, 3)}
        store.publish(DATASETS, key, {RECORDS_FILE: folder / RECORDS_FILE, DROPS_FILE: folder / DROPS_FILE,
                                      CHANGES_FILE: folder / CHANGES_FILE},
                      provenance={"step": "shard-decided", "version": SHARD_VERSION, "shard": shard_key,
                                  "duplicates": decision["duplicates_key"]},
                      summary=summary)
    return key, {**summary, "cache": "miss"}


def _gather(store: ArtifactStore, shards: list[str], resources: Resources) -> str:
    key = content_key("shard-gather", SHARD_VERSION, {"shards": shards})
    if not store.has(DATASETS, key):
        with engine.connect(store, settings=resources.settings) as con, \
                tempfile.TemporaryDirectory(prefix="autodp-gather-") as tmp:
            path = Path(tmp) / RECORDS_FILE
            con.execute(f"copy (select * from read_parquet(?) order by source_row) to '{path}' (format parquet)",
                        [[store.file_location(DATASETS, k, RECORDS_FILE) for k in shards]])
            store.publish(DATASETS, key, {RECORDS_FILE: path},
                          provenance={"step": "shard-gather", "version": SHARD_VERSION, "shards": shards},
                          summary={"dataset_key": key, "shards": len(shards)})
    return key


def _stack_by_step(con, store: ArtifactStore, pieces: list[dict[str, Any]], name: str, path: Path) -> None:
    """File ``name`` of every piece in one Parquet file, each row with its piece's step."""
    query = " union all by name ".join(
        f"select {int(p['step'])}::integer as step, * from "
        f"read_parquet({engine.sql_literal(store.file_location(DATASETS, p['key'], name))})" for p in pieces)
    con.execute(f"copy (select * from ({query}) order by step, source_row) to '{path}' (format parquet)")


def _step_summaries(strategy: Strategy, pieces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary per step of the strategy, its counts summed over the pieces that ran it."""
    summaries = []
    for number, step in enumerate(strategy.steps, start=1):
        mine = [p for p in pieces if p["step"] == number]
        summaries.append({
            "step": number, "operator": step.name, "version": step.operator.version,
            "params": step.canonical()["params"], "pieces": len(mine),
            "rows_in": sum(p["rows_in"] for p in mine), "rows_out": sum(p["rows_out"] for p in mine),
            "dropped": _summed(p["dropped"] for p in mine), "changed": _summed(p["changed"] for p in mine),
            "added": sum(p["added"] for p in mine), "llm_calls": sum(p["llm_calls"] for p in mine),
            "llm_rows_skipped": sum(p["llm_rows_skipped"] for p in mine),
            "llm_failures": _summed(p.get("llm_failures", {}) for p in mine),
            "seconds": round(sum(p["seconds"] for p in mine), 3),
        })
    return summaries


def _summed(counts) -> dict[str, int]:
    return dict(sorted(sum((Counter(c) for c in counts), Counter()).items()))

