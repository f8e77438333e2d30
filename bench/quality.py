"""Quality: does fine-tuning on autodp-processed data beat fine-tuning on the raw data?

    make bench-quality    # or: .venv/bin/python bench/quality.py [--dataset PATH --steps 10 ...]

On a real noisy dataset (Stanford Alpaca 5,000 by default: empty outputs, <nooutput>,
invented URLs, placeholder inputs), a test set is split off first: ``--test-size``
references drawn by the search's own held-out rule (rows passing the fixed reference
screen, chosen by a seeded hash), every row asking one of their questions removed from
what the searches see. Three searches then run on the rest with the same sample, their
own held-out evaluation split (``--eval-size``), LoRA budget and seed: the agent with
feedback, random search, and a one-shot agent without feedback (the AutoML-agent style
baseline).

Figures, all on the test set that no search scored:
1. each method's published strategy, its model against the raw-sample model: reference
   judge (win rate and mean ΔNLL with bootstrap 95% intervals, ties within the agent
   search's measured noise floor), and the LLM judge on the first ``--llm-examples``
   references in both presentation orders, marked unusable when it nearly always prefers
   the first-shown answer;
2. the agent's best against random's and one-shot's, both judges; search times;
3. the noise floor on the test set: the raw model retrained with another seed;
4. each published strategy against raw and the agent's against the others': their sample
   outputs by the search's signal (no fine-tune), and at the confirmation budget, the
   strategies applied to the search's confirmation draw (the search's own adapters, scored on
   the test set; the win rate is the share of references on which the first has the lower
   NLL, with its interval over the references). Section 1 also gives each search's own
   confirmed verdict.

The local server (SmolLM2-135M-Instruct) is the agent, the data LLM and the judge: a
sub-1B agent and judge, which the figures must be read against. Artifacts persist under
$AUTODP_HOME/bench-quality, so a second run only re-prints.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from verdicts import (  # bench/verdicts.py
    TestSet,
    confirmed_text,
    llm_figure,
    published_on_test,
    raw_models,
    reference_figure,
    trained_model,
)
from workspace import workspace  # bench/workspace.py

from autodp.ingest import ingest
from autodp.llm.client import LLMClient
from autodp.llm.endpoints import LOCAL_MODEL, ROLES, Endpoint
from autodp.llm.server import LocalServer
from autodp.operators.resources import Resources
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.data_card import tied_words
from autodp.search.evaluation import evaluation_split, load_examples
from autodp.search.loop import search
from autodp.text import prompt_text

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "datasets" / "alpaca" / "alpaca_5000.json"
METHODS = ("agent", "random", "one_shot")
TEST_SEED_OFFSET = 1000  # the test split's hash seed, apart from the searches' own evaluation split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT, help="a JSON list of Alpaca-format records")
    parser.add_argument("--model", default="smollm2", help="smollm2 (default) or tiny")
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--eval-size", type=int, default=200, help="held-out references each search steers by")
    parser.add_argument("--test-size", type=int, default=200, help="test references only this script scores")
    parser.add_argument("--llm-examples", type=int, default=50,
                        help="test references the LLM judge answers, in both orders (0: no LLM judge)")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="LoRA steps per candidate (batch 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--signal", choices=("gradient_flow", "reference"), default=SearchConfig().signal,
                        help="what scores the searches' candidates (default %(default)s)")
    parser.add_argument("--confirm-top", type=int, default=SearchConfig().confirm_top,
                        help="candidates each search confirms against raw before publishing (0: none)")
    args = parser.parse_args()

    folder, settings, store = workspace("bench-quality")
    resources = Resources(settings=settings)
    full_key = ingest(str(args.dataset), store)["dataset_key"]
    split = evaluation_split(store, full_key, args.test_size, args.seed + TEST_SEED_OFFSET, resources=resources)
    examples = load_examples(store, split["evaluation_key"], settings)[0]
    search_path, removed = _without_test_questions(args.dataset, {e.prompt for e in examples}, folder, split)
    key = ingest(str(search_path), store)["dataset_key"]
    test = TestSet(store, examples, args.model, args.seed, settings, llm_examples=args.llm_examples)
    print(f"{args.dataset.name}: {split['rows']} rows; test set: {len(examples)} references of the "
          f"{split['passed_screen']} rows that passed the reference screen (screened out: {split['screened_out']}), "
          f"{removed} rows asking their questions removed; searches on dataset {key[:12]}: sample {args.sample}, "
          f"{args.eval_size} held-out references, {args.iterations} iterations x {args.candidates} candidates, "
          f"LoRA {args.steps} steps x 8 on {args.model}; agent, data LLM and judge: {LOCAL_MODEL} (local)",
          flush=True)

    configs = {method: SearchConfig(iterations=args.iterations, candidates=args.candidates, method=method,
                                    base=args.model, sample_size=args.sample, eval_size=args.eval_size,
                                    lora=LoraSettings(steps=args.steps), seed=args.seed, signal=args.signal,
                                    confirm_top=args.confirm_top)
               for method in METHODS}
    with LocalServer(port=0, log_path=folder / "llm.log") as server:
        endpoints = {role: Endpoint(role, server.base_url, LOCAL_MODEL, trusted=True) for role in ROLES}
        searching = Resources(settings=settings, endpoints=endpoints)
        judge = LLMClient(endpoints["judge"], cache_dir=folder / "judge-cache")
        results, seconds = {}, {}
        for method in METHODS:
            started = time.perf_counter()
            results[method] = search(key, store, configs[method], resources=searching,
                                     progress=lambda message, method=method: print(f"  [{method}] {message}",
                                                                                   flush=True))
            seconds[method] = time.perf_counter() - started

        card = results["agent"]["data_card"]
        score = card["score"]
        raw, noise = raw_models(store, key, configs["agent"], test, settings)
        margin = noise["tie_margin"]
        print(f"\n1. The published strategies against the raw-sample model (LoRA {args.steps} steps), on the "
              f"{len(examples)} test references (ties within {margin} nats, two raw models that differ in their "
              f"seed; LLM judge on {len(test.llm_examples)}); the searches scored candidates by {score['judge']}")
        print(f"  the searches' own evaluation: {score['evaluation_examples']} {score['evaluation']} references, "
              f"{score['evaluation_screen']['passed_screen']} of {score['evaluation_screen']['rows']} rows passed "
              f"the screen", flush=True)
        best = {method: trained_model(store, results[method]["best"], configs[method], settings) for method in METHODS}
        for method in METHODS:
            result = results[method]
            selection = result["data_card"]["search"]["selection"]
            print(f"  {method}: {' > '.join(s['operator'] for s in result['best']['steps']) or '(no steps)'} "
                  f"(proposed by {result['best']['origin']}; chosen by {selection['rule']}, of {selection['tied']} "
                  f"{tied_words(selection, of_best_scored=True)}); "
                  f"{result['data_card']['search']['strategies_evaluated']} strategies evaluated in "
                  f"{seconds[method]:.0f} s", flush=True)
            print(f"    confirmed by the search: {confirmed_text(result['data_card']['confirmation'], result['best'])}")
            _compare(test, f"{method} best vs raw", best[method], raw, margin, judge)

        print("\n2. The agent's best against the other methods' best, on the test set")
        for rival in METHODS[1:]:
            _compare(test, f"agent best vs {rival} best", best["agent"], best[rival], margin, judge)

        print(f"\n3. Noise floor on the test set: the raw model retrained with another seed scores win rate "
              f"{noise['win_rate']:.3f}, mean dNLL {noise['delta_nll']['mean']:+.4f} "
              f"[{noise['delta_nll']['ci95'][0]:+.4f}, {noise['delta_nll']['ci95'][1]:+.4f}] against the first "
              f"(its tie margin {noise['tie_margin']})", flush=True)
        print("\n4. The published strategies on the test set, by the search's signal and at the confirmation budget")
        published_on_test(store, key, results, configs["agent"], test, searching)


def _compare(test: TestSet, what: str, candidate: str, baseline: str, margin: float, judge) -> None:
    started = time.perf_counter()
    line = f"    {what:<28} reference judge {reference_figure(test.verdict(candidate, baseline, margin))}"
    if test.llm_examples:
        line += f"; LLM judge {llm_figure(test.llm_verdict(candidate, baseline, judge))}"
    print(f"{line}  ({time.perf_counter() - started:.0f} s)", flush=True)


def _without_test_questions(dataset: Path, test_prompts: set[str], folder: Path, split: dict) -> tuple[Path, int]:
    """The dataset less every record asking a test question, written once per test split."""
    records = json.loads(dataset.read_text(encoding="utf-8"))
    kept = [r for r in records if prompt_text({"instruction": r.get("instruction", ""),
                                               "input": r.get("input", "")}) not in test_prompts]
    path = folder / f"{dataset.stem}-without-test-{split['evaluation_key'][:12]}.json"
    if not path.exists():
        path.write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
    return path, len(records) - len(kept)


if __name__ == "__main__":
    main()
