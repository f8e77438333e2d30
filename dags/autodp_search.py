"""
### autodp_search

Finds the data-processing strategy that makes a dataset fine-tune the best model, and
publishes the dataset it produces with a data card for review.

1. **ingest** the source file into the canonical record table (unusable rows are
   quarantined with their line and reason) and **profile** it: aggregates only;
2. **sample**: hold out the evaluation split, draw a distribution-preserving sample;
3. **target**: train the classifier that flags the rows worth an LLM call;
4. **baseline**: what candidates are scored against. By the `signal` Param's default,
   `gradient_flow`: per-record LoRA gradients of the unprocessed sample and of the
   evaluation references, computed once; by `reference`: the base model LoRA-fine-tuned on
   the unprocessed sample, twice (the second seed is the noise floor);
5. **iteration_N** (up to the `iterations` Param): the agent **propose**s candidate
   strategies from aggregates and scores only; each candidate is **apply**ed,
   **finetune**d (by `reference` only: `gradient_flow` trains nothing here) and
   **evaluate**d against the unprocessed sample as mapped tasks; **reflect** keeps the
   history and skips later iterations once the search has converged;
6. **select** the best strategy; **confirm** the top candidates against raw (raw: a fresh
   draw of rows outside the sample; a candidate: its strategy applied to that draw; each
   fine-tuned with several seeds at a budget where the model learns the data, scored on
   held-out examples the selection never used); **publish** the output on
   the full dataset, with the data card, both verdicts and the agent's audit log.

Fine-tuning and evaluation run in the pool and queue named by `AUTODP_GPU_POOL` and
`AUTODP_GPU_QUEUE` (`gpu` in the production compose). Every result is stored under a
content key: clearing and re-running a task, or a whole run, redoes nothing stored.
XCom carries keys, counts and scores, never records.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import get_args

from airflow.sdk import Asset, Param, dag, task_group

from autodp.ingest.layouts import LAYOUTS
from autodp.ingest.readers import FORMATS
from autodp.ingest.rows import DEFAULT_MAX_RECORD_BYTES
from autodp.models.lora import PRECISIONS
from autodp.orchestration.openlineage import task
from autodp.orchestration.support import TASK_DEFAULTS, mapping_param, store_param
from autodp.search.config import DEFAULTS, MAX_ITERATIONS, Method, Signal

GPU = {"pool": os.environ.get("AUTODP_GPU_POOL", "default_pool"),
       "queue": os.environ.get("AUTODP_GPU_QUEUE", "default")}
PUBLISHED_ASSET = Asset("autodp://published", extra={"what": "datasets published by autodp_search"})

# The trigger form's sections; the source Params stay in the default one, which the form opens with.
BUDGET, MODELS, EVALUATION, OUTPUTS = "Search budget", "Models", "Evaluation", "Outputs"
PARAMS = {
    "source": Param("", type="string", minLength=1, title="Source dataset",
                    description="Path or s3:// URL of a JSONL, JSON-array, Parquet or CSV file (gzip ok), "
                    "readable from the workers."),
    "file_format": Param("auto", type="string", enum=["auto", *FORMATS], title="File format",
                         description="auto: from the file name and its first bytes."),
    "layout": Param("auto", type="string", enum=["auto", *LAYOUTS], title="Record layout",
                    description="auto: alpaca or sharegpt from the first record, or mapped when a field "
                    "mapping is given."),
    "mapping": mapping_param(),
    "max_record_bytes": Param(DEFAULT_MAX_RECORD_BYTES, type="integer", minimum=1024, maximum=64 * 1024 * 1024,
                              title="Largest record (bytes)",
                              description="Records above this size are quarantined as too_large."),
    "method": Param(DEFAULTS.method, type="string", enum=list(get_args(Method)), section=BUDGET,
                    title="Search method",
                    description="agent: proposals refined from scores; random: random search; one_shot: the "
                    "agent once, without feedback (baselines)."),
    "iterations": Param(DEFAULTS.iterations, type="integer", minimum=1, maximum=MAX_ITERATIONS, section=BUDGET,
                        title="Iterations", description=f"Propose/evaluate rounds, at most {MAX_ITERATIONS}; "
                        "later ones are skipped once the search converges."),
    "candidates": Param(DEFAULTS.candidates, type="integer", minimum=1, maximum=16, section=BUDGET,
                        title="Candidates per iteration",
                        description="Strategies proposed and evaluated in parallel each iteration."),
    "patience": Param(DEFAULTS.patience, type="integer", minimum=1, maximum=MAX_ITERATIONS, section=BUDGET,
                      title="Patience", description="Converged after this many iterations without a better strategy."),
    "sample_size": Param(DEFAULTS.sample_size, type="integer", minimum=10, maximum=1_000_000, section=BUDGET,
                         title="Search sample size",
                         description="Rows in the distribution-preserving sample the search runs on."),
    "seed": Param(DEFAULTS.seed, type="integer", minimum=0, section=BUDGET, title="Seed",
                  description="Sampling, proposals and training seed."),
    "model": Param(DEFAULTS.base, type="string", minLength=1, section=MODELS, title="Base model",
                   description="Model fine-tuned per candidate: smollm2 (SmolLM2-135M-Instruct), tiny (tests), or "
                   "a Hugging Face model directory readable from the workers."),
    "lora_steps": Param(DEFAULTS.lora.steps, type="integer", minimum=1, maximum=100_000, section=MODELS,
                        title="LoRA steps", description="Training steps per candidate (batch 8), when the "
                        "reference judge scores candidates."),
    "augmentation_model": Param(None, type=["null", "string"], section=MODELS, title="Augmentation model",
                                description="Name of a registered augmentation family (autodp_distill): the "
                                "operators of its tasks join the pool and run its models. Empty: none."),
    "signal": Param(DEFAULTS.signal, type="string", enum=list(get_args(Signal)), section=EVALUATION,
                    title="Signal that scores candidates",
                    description="gradient_flow: each candidate's output valued against the raw sample by per-record "
                    "LoRA gradients followed through training (no fine-tune per candidate; it fails one check of make "
                    "bench-ladder, the fewest). reference: a LoRA fine-tune per candidate, its likelihood of the "
                    "held-out answers against a baseline's (fails many of them; kept to compare)."),
    "eval_size": Param(DEFAULTS.eval_size, type="integer", minimum=4, maximum=100_000, section=EVALUATION,
                       title="Evaluation examples",
                       description="Rows held out of the input to judge models (at most a quarter of the rows "
                       "that pass the reference screen); never processed or shown to the agent."),
    "eval": Param(None, type=["null", "string"], section=EVALUATION, title="Trusted evaluation set",
                  description="Path or s3:// URL of a file of trusted instruction/response pairs (same field "
                  "mapping) to judge models on. Empty: a screened split held out of the source."),
    "llm_judge": Param(DEFAULTS.llm_judge, type="boolean", section=EVALUATION, title="Also use the LLM judge",
                       description="Judge answers with the judge endpoint too (both orders), when the reference "
                       "judge scores candidates; the score stays the reference judge's."),
    "confirm_top": Param(DEFAULTS.confirm_top, type="integer", minimum=0, maximum=8, section=EVALUATION,
                         title="Candidates confirmed",
                         description="The top candidates fine-tuned again against raw before publishing; 0: none "
                         "(the published strategy is then marked not confirmed)."),
    "confirm_seeds": Param(DEFAULTS.confirm_seeds, type="integer", minimum=2, maximum=16, section=EVALUATION,
                           title="Confirmation seeds", description="Seeds per arm (each confirmed candidate and raw)."),
    "confirm_steps": Param(DEFAULTS.confirm_lora.steps, type="integer", minimum=1, maximum=100_000,
                           section=EVALUATION, title="Confirmation LoRA steps",
                           description=f"Training steps per confirmation adapter (batch "
                           f"{DEFAULTS.confirm_lora.batch_size}, {DEFAULTS.confirm_lora.max_length}-token windows). "
                           f"At {DEFAULTS.confirm_lora.steps}, three seeds tell clean data from data with 30% of its "
                           "rows damaged on the quality ladder (make bench-ladder); about 150 s an adapter on two "
                           "CPU cores with bfloat16, 200 s in float32."),
    "confirm_precision": Param(DEFAULTS.confirm_lora.precision, type="string", enum=list(PRECISIONS),
                               section=EVALUATION, title="Confirmation precision",
                               description="bfloat16: confirmation adapters train and are scored under bfloat16 "
                               "autocast, faster where the hardware multiplies it natively (a GPU, or a CPU with "
                               "AVX512-BF16 or AMX; elsewhere torch emulates it); on the quality ladder it separates "
                               "clean from 30% damaged as float32 does. float32: as adapters were before the "
                               "setting existed."),
    "confirm_size": Param(DEFAULTS.confirm_size, type="integer", minimum=2, maximum=100_000, section=EVALUATION,
                          title="Confirmation examples",
                          description="More examples held out beside the evaluation ones, scored only by the "
                          "confirmation."),
    "confirm_rows": Param(DEFAULTS.confirm_rows, type="integer", minimum=1, maximum=1_000_000, section=EVALUATION,
                          title="Confirmation rows",
                          description="Rows drawn outside the search sample that every confirmation arm trains on: "
                          "raw, and each candidate's strategy applied to them. Enough that no arm repeats rows much "
                          "in its training draws, as none would on the full data; the sample's rows join them when "
                          "fewer lie outside it."),
    "store": store_param(section=OUTPUTS),
}


@dag(
    dag_id="autodp_search",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["autodp", "search"],
    params=PARAMS,
    doc_md=__doc__,
    default_args=TASK_DEFAULTS,
)
def autodp_search():
    @task
    def ingest(params: dict | None = None) -> dict:
        from autodp.ingest import ingest
        from autodp.ingest.sources import allowed_source
        from autodp.orchestration.support import resolve_store

        return ingest(allowed_source(params["source"]), resolve_store(params["store"]),
                      file_format=params["file_format"],
                      layout=params["layout"], mapping=params["mapping"] or None,
                      max_record_bytes=params["max_record_bytes"])

    @task
    def profile(dataset: dict, params: dict | None = None) -> dict:
        from autodp.orchestration.support import resolve_store
        from autodp.tables.profile import profile

        report = profile(dataset["dataset_key"], resolve_store(params["store"]))
        return {"dataset_key": report["dataset_key"], "profile_key": report["profile_key"], "rows": report["rows"]}

    @task
    def sample(profiled: dict, params: dict | None = None) -> dict:
        from autodp.orchestration.support import search_context
        from autodp.search import loop

        return loop.sample(search_context(params), profiled["dataset_key"]).to_dict()

    @task
    def target(run: dict, params: dict | None = None) -> dict:
        from autodp.orchestration.support import search_context
        from autodp.search import loop
        from autodp.search.state import SearchRun

        return loop.target(search_context(params), SearchRun.from_dict(run)).to_dict()

    @task(**GPU)
    def baseline(run: dict, params: dict | None = None) -> dict:
        from autodp.orchestration.support import search_context
        from autodp.search import loop
        from autodp.search.state import SearchRun

        return loop.baseline(search_context(params), SearchRun.from_dict(run)).to_dict()

    @task
    def propose(run: dict, state: dict | None, iteration: int, params: dict | None = None) -> list[dict]:
        from airflow.sdk.exceptions import AirflowSkipException

        from autodp.orchestration.support import search_context
        from autodp.search import loop
        from autodp.search.state import Reflection, SearchRun

        if iteration > params["iterations"] or (state and state["converged"]):
            raise AirflowSkipException(f"iteration {iteration} not needed (converged or past the last)")
        history = Reflection.from_dict(state).history if state else []
        candidates = loop.propose(search_context(params), SearchRun.from_dict(run), iteration, history)
        if not candidates:
            raise AirflowSkipException("no new strategy was proposed")
        return [candidate.to_dict() for candidate in candidates]

    @task
    def apply(candidate: dict, run: dict, params: dict | None = None) -> dict:
        from autodp.orchestration.support import search_context
        from autodp.search import loop
        from autodp.search.state import Candidate, SearchRun

        return loop.apply(search_context(params), SearchRun.from_dict(run), Candidate.from_dict(candidate)).to_dict()

    @task(**GPU)
    def finetune(trial: dict, run: dict, params: dict | None = None) -> dict:
        from autodp.orchestration.support import search_context
        from autodp.search import loop
        from autodp.search.state import SearchRun, Trial

        return loop.finetune(search_context(params), SearchRun.from_dict(run), Trial.from_dict(trial)).to_dict()

    @task(**GPU)
    def evaluate(trial: dict, run: dict, params: dict | None = None) -> dict:
        from autodp.orchestration.support import search_context
        from autodp.search import loop
        from autodp.search.state import SearchRun, Trial

        return loop.evaluate(search_context(params), SearchRun.from_dict(run), Trial.from_dict(trial)).to_dict()

    @task
    def reflect(state: dict | None, judged: list[dict], iteration: int, params: dict | None = None) -> dict:
        from autodp.orchestration.support import search_context
        from autodp.search import loop
        from autodp.search.state import Reflection, Trial

        previous = Reflection.from_dict(state) if state else None
        return loop.reflect(search_context(params), previous, [Trial.from_dict(t) for t in judged], iteration).to_dict()

    @task_group
    def iteration_group(run: dict, state, iteration: int):
        candidates = propose(run, state, iteration)
        applied = apply.partial(run=run).expand(candidate=candidates)
        trained = finetune.partial(run=run).expand(trial=applied)
        judged = evaluate.partial(run=run).expand(trial=trained)
        return reflect(state, judged, iteration)

    @task(trigger_rule="none_failed_min_one_success")
    def select(ti=None) -> dict:
        from autodp.search import loop
        from autodp.search.state import Reflection

        states = [ti.xcom_pull(task_ids=f"iteration_{n}.reflect") for n in range(1, MAX_ITERATIONS + 1)]
        return loop.select([Reflection.from_dict(s) if s else None for s in states]).to_dict()

    @task(**GPU)
    def confirm(run: dict, state: dict, params: dict | None = None) -> dict:
        from autodp.orchestration.support import search_context
        from autodp.search import loop
        from autodp.search.state import Reflection, SearchRun

        return loop.confirm(search_context(params), SearchRun.from_dict(run), Reflection.from_dict(state)).to_dict()

    @task(outlets=[PUBLISHED_ASSET])
    def publish(run: dict, state: dict, confirmed: dict, params: dict | None = None) -> dict:
        from autodp.orchestration.support import search_context
        from autodp.search import loop
        from autodp.search.state import Confirmation, Reflection, SearchRun

        result = loop.publish(search_context(params), SearchRun.from_dict(run), Reflection.from_dict(state),
                              Confirmation.from_dict(confirmed))
        return {"published_key": result["published_key"], "published_dataset_key": result["published_dataset_key"],
                "rows": result["data_card"]["rows"], "verdict": result["verdict"],
                "best": {k: result["best"].get(k) for k in ("score", "win_rate", "ci95", "steps")},
                "leaderboard": [{k: e.get(k) for k in ("score", "win_rate", "ci95", "rows_out", "origin", "steps")}
                                for e in result["leaderboard"]]}

    run = baseline(target(sample(profile(ingest()))))
    state = None
    reflected = []
    for n in range(1, MAX_ITERATIONS + 1):
        state = iteration_group.override(group_id=f"iteration_{n}")(run, state, n)
        reflected.append(state)
    chosen = select()
    reflected >> chosen
    publish(run, chosen, confirm(run, chosen))


autodp_search()
