"""Quality: does fine-tuning on autodp-processed data beat fine-tuning on the raw data?

    make bench-quality    # or: .venv/bin/python bench/quality.py [--dataset PATH --model smollm2 ...]

On a real noisy dataset (Stanford Alpaca 5,000 by default: empty outputs, <nooutput>,
invented URLs, placeholder inputs), three searches run with the same sample, evaluation
split, LoRA budget and seed: the agent with feedback, random search, and a one-shot agent
without feedback (the AutoML-agent style baseline). Each best strategy's adapter is
judged against the adapter trained on the unprocessed sample, and the agent's best
against the other two methods' best, by the reference judge (likelihood of the reference
answers) and the LLM judge (both answer orders, ties when they disagree). Every figure
is a win rate (W + T/2) / N with its bootstrap 95% interval over the held-out examples.

The local server (SmolLM2-135M-Instruct) is the agent, the data LLM and the judge: a
sub-1B agent and judge, which the figures must be read against. Artifacts persist under
$AUTODP_HOME/bench-quality, so a second run only re-prints.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from workspace import workspace  # bench/workspace.py

from autodp.ingest import ingest
from autodp.llm.client import LLMClient
from autodp.llm.endpoints import LOCAL_MODEL, ROLES, Endpoint
from autodp.llm.server import LocalServer
from autodp.resources import Resources
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.evaluation import evaluation_split, llm_judge, load_examples, reference_judge
from autodp.search.loop import search

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "datasets" / "alpaca" / "alpaca_5000.json"
METHODS = ("agent", "random", "one_shot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT)
    parser.add_argument("--model", default="smollm2", help="smollm2 (default) or tiny")
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--eval-size", type=int, default=24)
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12, help="LoRA steps per candidate (batch 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    folder, settings, store = workspace("bench-quality")
    with LocalServer(port=0, log_path=folder / "llm.log") as server:
        endpoints = {role: Endpoint(role, server.base_url, LOCAL_MODEL, trusted=True) for role in ROLES}
        key = ingest(str(args.dataset), store)["dataset_key"]
        print(f"{args.dataset.name}: dataset {key[:12]}; sample {args.sample}, {args.eval_size} held-out examples, "
              f"{args.iterations} iterations x {args.candidates} candidates, LoRA {args.steps} steps x 8 on "
              f"{args.model}; agent, data LLM and judge: {LOCAL_MODEL} (local)", flush=True)
        judge = LLMClient(endpoints["judge"], cache_dir=folder / "judge-cache")
        best = {}
        for method in METHODS:
            config = SearchConfig(iterations=args.iterations, candidates=args.candidates, method=method,
                                  base=args.model, sample_size=args.sample, eval_size=args.eval_size,
                                  lora=LoraSettings(steps=args.steps), seed=args.seed, llm_judge=True)
            started = time.perf_counter()
            resources = Resources(settings=settings, endpoints=endpoints)
            result = search(key, store, config, resources=resources)
            best[method] = result["best"]
            score = result["data_card"]["score"]
            if method == METHODS[0]:
                noise, screen = score["noise_floor"], score["evaluation_screen"]
                print(f"  evaluation: {score['evaluation_examples']} {score['evaluation']} examples from the "
                      f"{screen['passed_screen']} of {screen['rows']} rows that passed the reference screen "
                      f"(screened out: {screen['screened_out']})", flush=True)
                _report("noise floor: baseline reseeded", noise | {"wins": "-", "ties": "-", "losses": "-"}, None,
                        0.0, tie_margin=score["tie_margin"])
            _report(f"{method} search best vs unprocessed", best[method], best[method].get("llm_judge"),
                    time.perf_counter() - started)
            print(f"    strategy: {' > '.join(s['operator'] for s in best[method]['steps'])}; "
                  f"{result['data_card']['search']['strategies_evaluated']} strategies evaluated", flush=True)
        split = evaluation_split(store, key, config.eval_size, config.seed, resources=Resources(settings=settings))
        examples = load_examples(store, split["evaluation_key"], settings)[0]
        margin = result["data_card"]["score"]["tie_margin"]
        for rival in ("random", "one_shot"):
            started = time.perf_counter()
            mine, theirs = best["agent"]["adapter_key"], best[rival]["adapter_key"]
            by_reference = reference_judge(store, mine, theirs, args.model, examples, tie_margin=margin,
                                           seed=args.seed, settings=settings)
            by_llm = llm_judge(store, mine, theirs, args.model, examples, judge, seed=args.seed, settings=settings)
            _report(f"agent best vs {rival} best", by_reference, by_llm, time.perf_counter() - started)


def _report(what: str, reference: dict, llm: dict | None, seconds: float, tie_margin: float | None = None) -> None:
    def figure(result: dict) -> str:
        low, high = result["ci95"]
        return f"{result['win_rate']:.3f} [{low:.2f}, {high:.2f}] (W{result['wins']} T{result['ties']} L{result['losses']})"

    delta = reference.get("delta_nll")
    delta_text = f", dNLL {delta['mean']:+.4f} [{delta['ci95'][0]:+.4f}, {delta['ci95'][1]:+.4f}]" if delta else ""
    margin = f", tie margin {tie_margin}" if tie_margin is not None else ""
    if llm is None:
        judged = "n/a"
    elif llm.get("usable") is False:
        judged = f"unusable ({llm['unusable_reason']})"
    else:
        bias = llm.get("first_shown_preferred")
        judged = figure(llm) + (f", first-shown answer preferred in {bias:.0%} of its answers" if bias is not None
                                else "")
    print(f"  {what:<36} reference judge {figure(reference)}{delta_text}{margin}; LLM judge {judged}"
          f"  ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
