"""Judging a candidate model against the baseline on an evaluation split.

Two judges. The reference judge: for each evaluation example, the mean negative
log-likelihood per token (NLL) of the reference answer under each model. Two figures:

- the paired difference ΔNLL = NLL(baseline) - NLL(candidate) per example (positive: the
  candidate makes the references more likely), its mean with a bootstrap 95% interval;
- the win rate (W + T/2) / N with a bootstrap 95% interval, where the candidate wins an
  example when its ΔNLL exceeds the tie margin, loses below minus the margin, and ties
  otherwise. The group-relative score returned to the agent is s_k = r_k - r_0, where
  r_0 = 0.5 is the baseline against itself.

The tie margin comes from measured noise, not a constant: ``noise_floor`` compares the
baseline with a second one trained on the same rows with another seed. The median of their
per-example |ΔNLL| is how far reseeding alone moves a typical example, so a candidate wins
or loses an example only when it moves it further; the reseeded baseline's own win rate
and ΔNLL interval are the noise floor every candidate's figures are read against.

The LLM judge: both models answer each evaluation prompt (greedy), and the judge endpoint
compares the answers in both orders; the candidate wins when preferred in both, loses
when the baseline is, and ties when the orders disagree. Sub-1B judges are weak, which
is why the reference judge is reported beside it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autodp.artifacts import DATASETS, HELD_OUT_FILE, RECORDS_FILE
from autodp.execution.executor import run_steps
from autodp.execution.strategy import Strategy
from autodp.hashing import content_key
from autodp.models.base import autocast
from autodp.models.lora import collate, encode, load_adapted
from autodp.operators.base import prepare_connection
from autodp.operators.resources import Resources
from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.tables import engine
from autodp.text import blank_sql, prompt_text

EVALUATION_VERSION = "2"
BASELINE_RATE = 0.5
# A held-out reference must pass these, so the reference judge never rewards imitating a defect.
REFERENCE_SCREEN = ("drop_empty_output", "length_bounds", "hallucinated_url_filter", "merged_instruction_filter",
                    {"exact_dedup": {"key": "prompt"}})
HELD_OUT_SHARE = 0.25  # at most this share of the screened input becomes references
DEFAULT_TIE_MARGIN = 0.01  # nats per token, when no noise floor was measured
# An LLM judge that prefers whichever answer is shown first this often says nothing about the answers.
POSITION_BIAS_LIMIT = 0.9


@dataclass(frozen=True)
class Example:
    prompt: str
    reference: str


def evaluation_split(store: ArtifactStore, dataset_key: str, size: int, seed: int, trusted_key: str | None = None,
                     resources: Resources | None = None) -> dict[str, Any]:
    """The evaluation examples, stored as a dataset (``evaluation_key``) so every step and
    every later look reads the same ones.

    With ``trusted_key``, every example of that dataset with a response (``trusted_set``),
    and nothing is held out of the input. Otherwise (``held_out``) references are drawn from
    the input itself, so they are screened first: a row whose response fails the fixed
    ``REFERENCE_SCREEN`` (empty or placeholder, out of length bounds, an invented URL, a
    merged instruction, a repeated prompt) never becomes a reference, whatever the
    strategies under test do. Of the rows that pass, ``size`` chosen by a seeded hash (at
    most ``HELD_OUT_SHARE`` of them) are held out of sampling, processing and the agent's view.
    """
    resources = (resources or Resources()).using(store)
    screen = Strategy.from_data(list(REFERENCE_SCREEN))
    material = {"dataset": dataset_key, "size": size, "seed": seed, "trusted": trusted_key,
                "screen": None if trusted_key else screen.canonical()}
    key = content_key("evaluation", EVALUATION_VERSION, material)
    if store.has(DATASETS, key):
        return store.manifest(DATASETS, key)["summary"]
    source_key = trusted_key or dataset_key
    store.manifest(DATASETS, source_key)  # fails clearly on an unknown dataset
    with engine.connect(store, settings=resources.settings) as con, \
            tempfile.TemporaryDirectory(prefix="autodp-evaluation-") as tmp:
        prepare_connection(con, store.file_location(DATASETS, source_key, RECORDS_FILE), "screen_0")
        rows_in = con.execute("select count(*) from screen_0").fetchone()[0]
        if trusted_key:
            passed, screened_out, limit = "screen_0", {}, None
        else:
            for _ in run_steps(con, screen, resources, table="screen"):
                pass
            passed = f"screen_{len(screen.steps)}"
            screened_out = dict(con.execute("select reason, count(*) from drops group by reason order by reason")
                                .fetchall())
        candidates = con.execute(f"select count(*) from {passed} where not {blank_sql('output')}").fetchone()[0]
        if not trusted_key:
            limit = min(size, max(1, int(candidates * HELD_OUT_SHARE)))
        con.execute(f"create temp table chosen as select * from {passed} where not {blank_sql('output')} "
                    f"order by hash(source_row, {int(seed)}) {'' if limit is None else f'limit {limit}'}")
        examples = con.execute("select count(*) from chosen").fetchone()[0]
        if not examples:
            raise ValueError(f"no evaluation examples: dataset {source_key} has no usable response")
        path, held_out = Path(tmp) / RECORDS_FILE, Path(tmp) / HELD_OUT_FILE
        con.execute(f"copy (select * from chosen order by hash(source_row, {int(seed)})) to '{path}' (format parquet)")
        # Every input row that asks a reference's question is held out of the search with it,
        # so no candidate trains on the prompt it is judged on. A trusted set holds nothing out.
        con.execute("create temp table held_out (source_row bigint)")
        if not trusted_key:
            con.execute("""insert into held_out select r.source_row from read_parquet(?) r semi join chosen c
                           on r.instruction = c.instruction and r.input = c.input""",
                        [store.file_location(DATASETS, dataset_key, RECORDS_FILE)])
        held_out_rows = con.execute("select count(*) from held_out").fetchone()[0]
        con.execute(f"copy (select * from held_out order by source_row) to '{held_out}' (format parquet)")
        summary = {"evaluation_key": key, "source": "trusted_set" if trusted_key else "held_out",
                   "source_dataset_key": source_key, "rows": rows_in, "passed_screen": candidates,
                   "screened_out": screened_out, "examples": examples, "held_out_rows": held_out_rows}
        store.publish(DATASETS, key, {RECORDS_FILE: path, HELD_OUT_FILE: held_out}, summary=summary,
                      provenance={"step": "evaluation_split", "version": EVALUATION_VERSION, **material})
    return summary


def load_examples(store: ArtifactStore, evaluation_key: str,
                  settings: Settings | None = None) -> tuple[list[Example], frozenset[int]]:
    """The stored examples, and the input rows held out of the search with them (none for a
    trusted set)."""
    with engine.connect(store, settings=settings) as con:
        rows = con.execute("select instruction, input, output from read_parquet(?)",
                           [store.file_location(DATASETS, evaluation_key, RECORDS_FILE)]).fetchall()
        held_out = frozenset(r for (r,) in con.execute(
            "select source_row from read_parquet(?)",
            [store.file_location(DATASETS, evaluation_key, HELD_OUT_FILE)]).fetchall())
    return [Example(prompt_text({"instruction": i, "input": x}), o) for i, x, o in rows], held_out


def reference_nll(model, tokenizer, examples: list[Example], max_length: int = 256, batch_size: int = 8) -> np.ndarray:
    """Mean negative log-likelihood per reference token, one value per example. Examples are
    batched in order of length, so a batch pads little."""
    import torch

    encoded = [encode(tokenizer, e.prompt, e.reference, max_length) for e in examples]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))
    values = np.zeros(len(encoded))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = {k: v.to(model.device) for k, v in collate([encoded[i] for i in rows],
                                                               tokenizer.pad_token_id).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            labels = batch["labels"][:, 1:]
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
            mask = labels != -100
            picked = logprobs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
            values[rows] = (-picked.sum(1) / mask.sum(1).clamp(min=1)).tolist()
    return values


def contrastive_margin(model, tokenizer, examples: list[Example], distractors: int = 3, seed: int = 0,
                       max_length: int = 256) -> np.ndarray:
    """Per example, how much more likely the model finds its reference under its own prompt
    than under other examples' prompts: the mean over ``distractors`` other prompts of
    NLL(reference | other prompt) - NLL(reference | own prompt), in nats per token. Fluency
    and format tokens, which every adapter learns, are as likely under any prompt and cancel
    (the unconditional term of a pointwise mutual information); what remains is whether the
    model ties answers to their questions, which mismatched or garbled pairs teach it not to."""
    n = len(examples)
    count = min(distractors, n - 1)
    if count < 1:
        raise ValueError("a contrastive margin needs at least two examples")
    rng = np.random.default_rng(seed)
    others = [rng.choice(np.delete(np.arange(n), i), size=count, replace=False) for i in range(n)]
    swapped = [Example(examples[j].prompt, examples[i].reference) for i in range(n) for j in others[i]]
    own = reference_nll(model, tokenizer, examples, max_length)
    other = reference_nll(model, tokenizer, swapped, max_length).reshape(n, count)
    return other.mean(axis=1) - own


def win_rate(outcomes: np.ndarray, seed: int = 0, resamples: int = 2000) -> dict[str, Any]:
    """outcomes: 1 win, 0.5 tie, 0 loss per example."""
    rate, low, high = bootstrap_mean(outcomes, seed, resamples)
    return {
        "n": len(outcomes),
        "wins": int((outcomes == 1).sum()),
        "ties": int((outcomes == 0.5).sum()),
        "losses": int((outcomes == 0).sum()),
        "win_rate": round(rate, 4),
        "ci95": [round(low, 4), round(high, 4)],
        "score": round(rate - BASELINE_RATE, 4),
    }


def bootstrap_mean(values: np.ndarray, seed: int = 0, resamples: int = 2000) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-example values and its bootstrap 95% interval over
    the examples (nan for none)."""
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boot = rng.choice(values, size=(resamples, len(values)), replace=True).mean(axis=1)
    return float(values.mean()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def paired_delta(baseline: np.ndarray, candidate: np.ndarray, seed: int = 0, resamples: int = 2000) -> dict[str, Any]:
    """Mean of baseline - candidate per example, with a bootstrap 95% interval over examples."""
    mean, low, high = bootstrap_mean(baseline - candidate, seed, resamples)
    return {"mean": round(mean, 4) if len(baseline) else None, "ci95": [round(low, 4), round(high, 4)]}


def compare_nll(baseline: np.ndarray, candidate: np.ndarray, tie_margin: float, seed: int = 0) -> dict[str, Any]:
    """The reference judge's verdict from per-example NLLs of the same examples."""
    gain = baseline - candidate
    outcomes = np.where(gain > tie_margin, 1.0, np.where(gain < -tie_margin, 0.0, 0.5))
    return {"judge": "reference", "tie_margin": round(float(tie_margin), 4), **win_rate(outcomes, seed),
            "delta_nll": paired_delta(baseline, candidate, seed),
            "mean_nll": {"candidate": round(float(candidate.mean()), 4), "baseline": round(float(baseline.mean()), 4)}}


def noise_floor(baseline: np.ndarray, reseeded: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """What two baselines that differ only in their training seed do to the figures: the tie
    margin (median per-example |ΔNLL|), and the reseeded baseline's verdict against the first."""
    margin = float(np.median(np.abs(baseline - reseeded))) if len(baseline) else DEFAULT_TIE_MARGIN
    verdict = compare_nll(baseline, reseeded, margin, seed)
    return {"tie_margin": round(margin, 4), "win_rate": verdict["win_rate"], "ci95": verdict["ci95"],
            "delta_nll": verdict["delta_nll"]}


def noise_reach(noise: dict[str, Any] | None) -> float:
    """How far from zero reseeding alone may move a mean ΔNLL: the farther end of the
    reseeded baseline's 95% ΔNLL interval (0 when no noise floor was measured). Two
    strategies whose mean ΔNLLs are closer than this cannot be told apart by the judge."""
    if not noise or noise.get("delta_nll", {}).get("mean") is None:
        return 0.0
    low, high = noise["delta_nll"]["ci95"]
    return round(max(abs(low), abs(high)), 4)


def reference_judge(store: ArtifactStore, candidate_adapter: str, baseline_adapter: str, base: str,
                    examples: list[Example], tie_margin: float = DEFAULT_TIE_MARGIN, seed: int = 0,
                    settings: Settings | None = None, baseline_nll: np.ndarray | None = None) -> dict[str, Any]:
    """``baseline_nll`` (from ``adapter_nll``) spares re-scoring the baseline for each candidate."""
    candidate = adapter_nll(store, candidate_adapter, base, examples, settings)
    if baseline_nll is not None:
        baseline = baseline_nll
    elif candidate_adapter == baseline_adapter:
        baseline = candidate
    else:
        baseline = adapter_nll(store, baseline_adapter, base, examples, settings)
    return compare_nll(baseline, candidate, tie_margin, seed)


def generate_answers(model, tokenizer, prompts: list[str], max_new_tokens: int = 64,
                     batch_size: int = 16) -> list[str]:
    """Greedy answers, in the prompts' order. Prompts go in batches of similar length, padded
    on the left so every answer starts at the same position; on SmolLM2 over two CPU cores a
    batch of 16 is five times faster per prompt than one at a time, with the same answers."""
    import torch

    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: list[str] = [""] * len(texts)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                ids = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(model.device)
                out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
                for i, row in zip(chunk, out[:, ids["input_ids"].shape[1]:]):
                    answers[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
    finally:
        tokenizer.padding_side = side
    return answers


def llm_judge(store: ArtifactStore, candidate_adapter: str, baseline_adapter: str, base: str,
              examples: list[Example], client, max_new_tokens: int = 64, seed: int = 0,
              settings: Settings | None = None, baseline_answers: list[str] | None = None,
              candidate_answers: list[str] | None = None) -> dict[str, Any]:
    """``baseline_answers`` and ``candidate_answers`` (from ``adapter_answers``) spare
    regenerating an adapter's answers for each comparison it is in."""
    from autodp.llm import conversations

    client.endpoint.require_trusted("the LLM judge")
    prompts = [e.prompt for e in examples]
    candidate = (candidate_answers if candidate_answers is not None
                 else adapter_answers(store, candidate_adapter, base, prompts, max_new_tokens, settings))
    if baseline_answers is not None:
        baseline = baseline_answers
    elif candidate_adapter == baseline_adapter:
        baseline = candidate
    else:
        baseline = adapter_answers(store, baseline_adapter, base, prompts, max_new_tokens, settings)
    choices = conversations.pairwise_choices(client, list(zip(prompts, baseline, candidate)))
    bias = conversations.first_shown_preferred(choices)
    return {"judge": "llm", "model": client.endpoint.model,
            **win_rate(np.array(conversations.pairwise_outcomes(choices)), seed),
            "first_shown_preferred": bias, **judge_usability(bias)}


def judge_usability(first_shown_preferred: float | None) -> dict[str, Any]:
    """An LLM judge is usable only when its verdicts depend on the answers: it read some of
    them, and did not pick whichever was shown first nearly always (``POSITION_BIAS_LIMIT``)."""
    if first_shown_preferred is None:
        return {"usable": False, "unusable_reason": "no readable verdict"}
    if max(first_shown_preferred, 1 - first_shown_preferred) >= POSITION_BIAS_LIMIT:
        return {"usable": False, "unusable_reason": (
            f"it preferred the answer shown {'first' if first_shown_preferred >= 0.5 else 'second'} in "
            f"{max(first_shown_preferred, 1 - first_shown_preferred):.0%} of its answers, whatever the answers were")}
    return {"usable": True, "unusable_reason": None}


def adapter_answers(store, adapter_key, base, prompts, max_new_tokens=64, settings=None) -> list[str]:
    model, tokenizer = load_adapted(store, adapter_key, base, settings)
    return generate_answers(model, tokenizer, prompts, max_new_tokens)


def adapter_nll(store, adapter_key, base, examples, settings=None, max_length: int = 256,
                precision: str = "float32") -> np.ndarray:
    model, tokenizer = load_adapted(store, adapter_key, base, settings)
    with autocast(precision, model.device.type):
        return reference_nll(model, tokenizer, examples, max_length)
