"""Judging a candidate model against the baseline on an evaluation split.

Two judges. The reference judge: for each evaluation example, the mean log-likelihood per token of the
reference answer under each model. The candidate wins an example when it makes the
reference clearly more likely (by more than ``tie_margin`` nats per token), loses when
clearly less, and ties otherwise. Deterministic, cheap, and honest with weak models.

win rate = (W + T/2) / N, with a bootstrap 95% interval over examples; the group-relative
score returned to the agent is s_k = r_k - r_0, where r_0 = 0.5 is the baseline against
itself.

The LLM judge: both models answer each evaluation prompt (greedy), and the judge endpoint
compares the answers in both orders; the candidate wins when preferred in both, loses
when the baseline is, and ties when the orders disagree. Sub-1B judges are weak, which
is why the reference judge is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from autodp import engine
from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.search.finetune import collate, encode, load_adapted
from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.text import blank_sql, prompt_text

BASELINE_RATE = 0.5


@dataclass(frozen=True)
class Example:
    prompt: str
    reference: str


def evaluation_split(store: ArtifactStore, dataset_key: str, size: int, seed: int, trusted_key: str | None = None,
                     settings: Settings | None = None) -> tuple[frozenset[int], list[Example], str]:
    """(source_rows held out of the search, the examples, where they came from).

    With ``trusted_key`` every example of that dataset with a response is used and nothing
    is held out of the input (``trusted_set``); otherwise ``size`` rows of the input with a
    response, chosen by a seeded hash, are held out of sampling, processing and the agent's
    view (``held_out``)."""
    source_key, eval_source, limit = dataset_key, "held_out", size
    if trusted_key:
        source_key, eval_source, limit = trusted_key, "trusted_set", 1 << 62
    with engine.connect(store, settings=settings) as con:
        rows = con.execute(f"""
            select source_row, instruction, input, output from read_parquet(?)
            where not {blank_sql('output')} order by hash(source_row, {int(seed)}) limit {int(limit)}""",
            [store.file_location(DATASETS, source_key, RECORDS_FILE)]).fetchall()
    examples = [Example(prompt_text({"instruction": i, "input": x}), o) for _, i, x, o in rows]
    held_out = frozenset(r for r, *_ in rows) if eval_source == "held_out" else frozenset()
    if not examples:
        raise ValueError("no evaluation examples: the evaluation data has no non-empty responses")
    return held_out, examples, eval_source


def reference_nll(model, tokenizer, examples: list[Example], max_length: int = 256, batch_size: int = 8) -> np.ndarray:
    """Mean negative log-likelihood per reference token, one value per example."""
    import torch

    values = []
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            chunk = [encode(tokenizer, e.prompt, e.reference, max_length) for e in examples[start:start + batch_size]]
            batch = {k: v.to(model.device) for k, v in collate(chunk, tokenizer.pad_token_id).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            labels = batch["labels"][:, 1:]
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
            mask = labels != -100
            picked = logprobs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
            values.extend((-picked.sum(1) / mask.sum(1).clamp(min=1)).tolist())
    return np.array(values)


def win_rate(outcomes: np.ndarray, seed: int = 0, resamples: int = 2000) -> dict[str, Any]:
    """outcomes: 1 win, 0.5 tie, 0 loss per example."""
    n = len(outcomes)
    rng = np.random.default_rng(seed)
    boot = rng.choice(outcomes, size=(resamples, n), replace=True).mean(axis=1) if n else np.array([np.nan])
    rate = float(outcomes.mean()) if n else float("nan")
    return {
        "n": n,
        "wins": int((outcomes == 1).sum()),
        "ties": int((outcomes == 0.5).sum()),
        "losses": int((outcomes == 0).sum()),
        "win_rate": round(rate, 4),
        "ci95": [round(float(np.percentile(boot, 2.5)), 4), round(float(np.percentile(boot, 97.5)), 4)],
        "score": round(rate - BASELINE_RATE, 4),
    }


def reference_judge(store: ArtifactStore, candidate_adapter: str, baseline_adapter: str, base: str,
                    examples: list[Example], tie_margin: float = 0.01, seed: int = 0,
                    settings: Settings | None = None, baseline_nll: np.ndarray | None = None) -> dict[str, Any]:
    """``baseline_nll`` (from ``adapter_nll``) spares re-scoring the baseline for each candidate."""
    candidate = adapter_nll(store, candidate_adapter, base, examples, settings)
    if baseline_nll is not None:
        baseline = baseline_nll
    elif candidate_adapter == baseline_adapter:
        baseline = candidate
    else:
        baseline = adapter_nll(store, baseline_adapter, base, examples, settings)
    gain = baseline - candidate
    outcomes = np.where(gain > tie_margin, 1.0, np.where(gain < -tie_margin, 0.0, 0.5))
    return {"judge": "reference", "tie_margin": tie_margin, **win_rate(outcomes, seed),
            "mean_nll": {"candidate": round(float(candidate.mean()), 4), "baseline": round(float(baseline.mean()), 4)}}


def generate_answers(model, tokenizer, prompts: list[str], max_new_tokens: int = 64) -> list[str]:
    import torch

    answers = []
    with torch.no_grad():
        for prompt in prompts:
            text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                 add_generation_prompt=True)
            ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
            out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            answers.append(tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return answers


def llm_judge(store: ArtifactStore, candidate_adapter: str, baseline_adapter: str, base: str,
              examples: list[Example], client, max_new_tokens: int = 64, seed: int = 0,
              settings: Settings | None = None, baseline_answers: list[str] | None = None) -> dict[str, Any]:
    """``baseline_answers`` (from ``adapter_answers``) spares regenerating them per candidate."""
    from autodp.operators import llm_calls

    client.endpoint.require_trusted("the LLM judge")
    prompts = [e.prompt for e in examples]
    candidate = adapter_answers(store, candidate_adapter, base, prompts, max_new_tokens, settings)
    if baseline_answers is not None:
        baseline = baseline_answers
    elif candidate_adapter == baseline_adapter:
        baseline = candidate
    else:
        baseline = adapter_answers(store, baseline_adapter, base, prompts, max_new_tokens, settings)
    choices = llm_calls.pairwise_choices(client, list(zip(prompts, baseline, candidate)))
    return {"judge": "llm", "model": client.endpoint.model,
            **win_rate(np.array(llm_calls.pairwise_outcomes(choices)), seed),
            "first_shown_preferred": llm_calls.first_shown_preferred(choices)}


def adapter_answers(store, adapter_key, base, prompts, max_new_tokens=64, settings=None) -> list[str]:
    model, tokenizer = load_adapted(store, adapter_key, base, settings)
    return generate_answers(model, tokenizer, prompts, max_new_tokens)


def adapter_nll(store, adapter_key, base, examples, settings=None) -> np.ndarray:
    model, tokenizer = load_adapted(store, adapter_key, base, settings)
    return reference_nll(model, tokenizer, examples)
