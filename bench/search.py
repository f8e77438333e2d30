"""Search acceleration: one search budget with none, each, and all three techniques.

    make bench-search     # or: .venv/bin/python bench/search.py [--rows N --sample N ...]

The techniques are Distribution Preserving Sampling (search on a sample instead of every
row), Processing Target Selection (LLM operators read only the rows the classifier flags)
and Cache-and-Reuse (stored prefixes, adapters and LLM answers are reused). Every
configuration runs the same random search (same seed, so the same candidate strategies)
from an empty store and empty caches, on the first --rows records of a real noisy dataset,
with LoRA budgets in epochs, so that training on less data costs less; the real local LLM
server answers the LLM operator. Printed: wall time of each search, its speedup over
"none", and the best strategy's win rate against that configuration's own baseline, with
its bootstrap 95% interval (reference judge).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from autodp.ingest import ingest
from autodp.llm.client import LLMClient
from autodp.llm.endpoints import LOCAL_MODEL, Endpoint
from autodp.llm.server import LocalServer
from autodp.models.base import load_base
from autodp.operators.resources import Resources
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.loop import search
from autodp.settings import Settings
from autodp.store import LocalStore

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "datasets" / "alpaca" / "alpaca_5000.json"
OPERATORS = ("drop_empty_output", "normalize_text", "exact_dedup", "near_dedup", "length_bounds",
             "hallucinated_url_filter", "merged_instruction_filter", "quality_score_filter")
CONFIGURATIONS = {
    "none": {"sampling": False, "target_selection": False, "reuse": False},
    "DPS only": {"sampling": True, "target_selection": False, "reuse": False},
    "PTS only": {"sampling": False, "target_selection": True, "reuse": False},
    "cache only": {"sampling": False, "target_selection": False, "reuse": True},
    "all three": {"sampling": True, "target_selection": True, "reuse": True},
}


def head_of(dataset: Path, rows: int, folder: Path) -> Path:
    """The first ``rows`` records of a JSON-array or JSONL file, as JSONL."""
    text = dataset.read_text()
    records = json.loads(text) if text.lstrip().startswith("[") else [json.loads(line) for line in text.splitlines()
                                                                        if line.strip()]
    path = folder / f"{dataset.stem}_{rows}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records[:rows]))
    return path


def run_configuration(switches: dict[str, bool], dataset: Path, models: Path, base_url: str,
                      args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="autodp-bench-search-") as tmp:
        home = Path(tmp) / "home"
        (home / "cache").mkdir(parents=True)
        (home / "models").symlink_to(models)  # converted base models are shared; every cache is not
        settings = Settings(home=home, store_uri=str(Path(tmp) / "store"))
        client = LLMClient(Endpoint("data", base_url, LOCAL_MODEL, trusted=True),
                           cache_dir=home / "cache" / "llm" if switches["reuse"] else None)
        resources = Resources(settings=settings, _llm=client)
        store = LocalStore(Path(tmp) / "store")
        key = ingest(str(dataset), store)["dataset_key"]
        config = SearchConfig(iterations=args.iterations, candidates=args.candidates, method="random",
                              base=args.model, sample_size=args.sample, eval_size=args.eval_size,
                              operators=OPERATORS, lora=LoraSettings(epochs=args.epochs, batch_size=8),
                              seed=args.seed, **switches)
        started = time.perf_counter()
        result = search(key, store, config, resources=resources)
        seconds = time.perf_counter() - started
        client.close()
    best = result["best"]
    return {"seconds": seconds, "score": best["score"], "ci95": best["ci95"], "llm_calls": client.usage.calls,
            "strategies": len(result["leaderboard"]), "best": " > ".join(s["operator"] for s in best["steps"]),
            "train_rows": result["data_card"]["rows"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT)
    parser.add_argument("--rows", type=int, default=600, help="records of the dataset to search over")
    parser.add_argument("--sample", type=int, default=60, help="DPS sample size")
    parser.add_argument("--eval-size", type=int, default=40)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--model", default="tiny", help="tiny (CPU default) or smollm2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", choices=list(CONFIGURATIONS), help="run these configurations only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="autodp-bench-") as tmp:
        dataset = head_of(args.dataset, args.rows, Path(tmp))
        settings = Settings.from_env()
        models = settings.home / "models"
        load_base(args.model, settings)  # converted once and kept under $AUTODP_HOME, untimed
        print(f"{args.rows} records of {args.dataset.name}; sample {args.sample}; {args.iterations} iterations x "
              f"{args.candidates} random candidates over {', '.join(OPERATORS)}; LoRA {args.epochs} epoch(s), "
              f"batch 8, base {args.model}; evaluation {args.eval_size} held-out examples", flush=True)
        results = {}
        with LocalServer(port=0, log_path=Path(tmp) / "llm.log") as server:
            for name, switches in CONFIGURATIONS.items():
                if args.only and name not in args.only:
                    continue
                results[name] = run_configuration(switches, dataset, models, server.base_url, args)
                r = results[name]
                print(f"  {name:<11} {r['seconds']:8.1f} s  {r['llm_calls']:5d} LLM calls  score "
                      f"{r['score']:+.4f} [{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}]  best: {r['best']}", flush=True)
    if "none" in results:
        print("speedup over none:")
        for name, r in results.items():
            print(f"  {name:<11} {results['none']['seconds'] / r['seconds']:6.1f}x")


if __name__ == "__main__":
    main()
