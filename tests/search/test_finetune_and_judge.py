"""LoRA fine-tuning with the tiny model built in code, and the reference judge."""

import json
from dataclasses import replace

import numpy as np
import pytest

from autodp.artifacts import ADAPTERS
from autodp.ingest import ingest
from autodp.models.lora import DRAWS, content_draws, finetune
from autodp.search.config import LoraSettings
from autodp.search.evaluation import Example, reference_judge, win_rate
from autodp.settings import Settings
from autodp.text import prompt_text
from tests.conftest import write_lines

GOOD = [("What is asthma?", "Asthma is a chronic disease of the airways."),
        ("What is gout?", "Gout is arthritis caused by uric acid crystals."),
        ("What is eczema?", "Eczema is an itchy inflammation of the skin.")]


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return Settings(home=home, store_uri=str(home / "store"))


def dataset(tmp_path, store, pairs, name):
    lines = [json.dumps({"instruction": q, "input": "", "output": a}) for q, a in pairs]
    return ingest(str(write_lines(tmp_path / f"{name}.jsonl", lines)), store)["dataset_key"]


def test_lora_adapter_is_trained_once_and_stored(local_store, tmp_path, settings):
    key = dataset(tmp_path, local_store, GOOD * 4, "good")
    lora = LoraSettings(steps=25, batch_size=4, learning_rate=3e-3)
    first = finetune(key, local_store, base="tiny", lora=lora, settings=settings)
    assert first["loss_last"] < first["loss_first"]
    assert first["train_rows"] == 12 and first["device"] in ("cpu", "cuda")
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(local_store.manifest(ADAPTERS, first["adapter_key"])["files"])
    again = finetune(key, local_store, base="tiny", lora=lora, settings=settings)
    assert again["cached"] and again["adapter_key"] == first["adapter_key"]
    other = finetune(key, local_store, base="tiny", lora=LoraSettings(steps=5), settings=settings)
    assert other["adapter_key"] != first["adapter_key"]


def test_bfloat16_training_is_an_adapter_of_its_own(local_store, tmp_path, settings):
    key = dataset(tmp_path, local_store, GOOD * 4, "good")
    lora = LoraSettings(steps=25, batch_size=4, learning_rate=3e-3)
    half = finetune(key, local_store, base="tiny", lora=replace(lora, precision="bfloat16"), settings=settings)
    assert half["precision"] == "bfloat16" and half["loss_last"] < half["loss_first"]
    assert half["adapter_key"] != finetune(key, local_store, base="tiny", lora=lora, settings=settings)["adapter_key"]
    assert "precision" not in lora.material() and replace(lora, precision="bfloat16").material()["precision"] == "bfloat16"
    with pytest.raises(ValueError, match="LoRA precision 'float16'"):
        LoraSettings(precision="float16")


def test_content_draws_are_uniform_and_shared_by_datasets_holding_the_same_rows():
    pairs = [(f"question {i}", f"answer {i}") for i in range(500)]
    drawn = content_draws(pairs, seed=0, count=100_000)
    counts = np.bincount(drawn, minlength=len(pairs))
    assert counts.min() > 120 and counts.max() < 290 and abs(counts.std() - 200 ** 0.5) < 3  # binomial(100k, 1/500)
    assert content_draws(pairs, seed=0, count=240) == drawn[:240]
    assert sum(a == b for a, b in zip(content_draws(pairs, 1, 240), drawn[:240])) < 5  # another seed, other rows
    kept = [pair for i, pair in enumerate(pairs) if i % 10]  # a strategy that removes a tenth of the rows
    paired = [pairs[a] == kept[b] for a, b in zip(drawn[:240], content_draws(kept, 0, 240))]
    assert paired == [a % 10 != 0 for a in drawn[:240]]  # every slot a kept row won is the same row's
    reordered = list(reversed(pairs))
    assert [reordered[i] for i in content_draws(reordered, 0, 240)] == [pairs[i] for i in drawn[:240]]
    repeated = pairs[:50] * 4 + pairs[50:250]  # 50 rows four times each: 200 of the 400 draws' chances
    assert 0.48 < np.mean(np.array(content_draws(repeated, 0, 40_000)) < 200) < 0.52


def test_a_row_no_slot_draws_leaves_the_adapter_unchanged(local_store, tmp_path, settings):
    """Common random numbers end to end: the same seed on a dataset with one more row, a row
    no batch slot happens to draw, trains the same adapter to the bit (draws and dropout
    masks alike); drawn by position, the extra row ahead of the others moves every draw."""
    import torch
    from safetensors.torch import load_file

    lora = LoraSettings(steps=6, batch_size=4, learning_rate=3e-3)
    rows = [(f"What is condition {i}?", f"Condition {i} is a disease of organ {i % 7}.") for i in range(60)]
    extra = next(row for row in rows[40:] if 40 not in content_draws(
        [(prompt_text({"instruction": q, "input": ""}), a) for q, a in [*rows[:40], row]], lora.seed,
        lora.steps * lora.batch_size))
    smaller = dataset(tmp_path, local_store, rows[:40], "smaller")
    larger = dataset(tmp_path, local_store, [extra, *rows[:40]], "larger")  # the same rows, each one place on

    def weights(key: str, draws: str) -> dict:
        adapter = finetune(key, local_store, base="tiny", lora=replace(lora, draws=draws), settings=settings)
        target = tmp_path / f"{adapter['adapter_key']}.safetensors"
        local_store.download(local_store.artifact_path(ADAPTERS, adapter["adapter_key"], "adapter_model.safetensors"),
                             target)
        return load_file(target)

    assert DRAWS == ("content", "position") and LoraSettings().draws == "content"
    for draws, same in (("content", True), ("position", False)):
        a, b = weights(smaller, draws), weights(larger, draws)
        assert all(torch.equal(a[name], b[name]) for name in a) == same, draws
    assert "draws" not in replace(lora, draws="position").material() and lora.material()["draws"] == "content"
    with pytest.raises(ValueError, match="LoRA draws 'shuffled'"):
        LoraSettings(draws="shuffled")


def test_reference_judge_prefers_the_model_trained_on_the_references(local_store, tmp_path, settings):
    lora = LoraSettings(steps=40, batch_size=4, learning_rate=3e-3)
    good = finetune(dataset(tmp_path, local_store, GOOD * 4, "good"), local_store, base="tiny", lora=lora,
                    settings=settings)
    noise = [(q, "<nooutput>") for q, _ in GOOD] * 4
    bad = finetune(dataset(tmp_path, local_store, noise, "bad"), local_store, base="tiny", lora=lora, settings=settings)
    examples = [Example(q, a) for q, a in GOOD]
    verdict = reference_judge(local_store, good["adapter_key"], bad["adapter_key"], "tiny", examples, settings=settings)
    assert verdict["wins"] == 3 and verdict["win_rate"] == 1.0 and verdict["score"] == 0.5
    itself = reference_judge(local_store, bad["adapter_key"], bad["adapter_key"], "tiny", examples, settings=settings)
    assert (itself["ties"], itself["win_rate"], itself["score"]) == (3, 0.5, 0.0)


def test_win_rate_counts_ties_as_half_and_bounds_the_interval():
    result = win_rate(np.array([1, 1, 0.5, 0, 1, 0.5, 1, 0]), seed=1)
    assert (result["wins"], result["ties"], result["losses"]) == (4, 2, 2)
    assert result["win_rate"] == 0.625 and result["score"] == 0.125
    low, high = result["ci95"]
    assert 0 <= low < 0.625 < high <= 1


def test_pairwise_outcomes_and_position_bias():
    from autodp.llm.conversations import first_shown_preferred, pairwise_outcomes

    # (answer with the first response shown as A, answer with the second shown as A)
    choices = [("A", "A"), ("B", "A"), ("A", "B"), (None, "A"), ("B", "B")]
    assert pairwise_outcomes(choices) == [0.5, 1.0, 0.0, 0.5, 0.5]
    assert first_shown_preferred(choices) == round(5 / 9, 3)
    assert first_shown_preferred([("A", "A")] * 3) == 1.0 and first_shown_preferred([(None, None)]) is None


def test_llm_judge_in_both_orders(local_store, tmp_path, settings, llm_server):
    from autodp.llm.client import LLMClient
    from autodp.llm.endpoints import LOCAL_MODEL, Endpoint
    from autodp.search.evaluation import llm_judge

    judge = LLMClient(Endpoint("judge", llm_server.base_url, LOCAL_MODEL, trusted=True))
    lora = LoraSettings(steps=10, batch_size=4, learning_rate=3e-3)
    good = finetune(dataset(tmp_path, local_store, GOOD * 4, "good"), local_store, base="tiny", lora=lora,
                    settings=settings)
    bad = finetune(dataset(tmp_path, local_store, [(q, "<nooutput>") for q, _ in GOOD] * 4, "bad"), local_store,
                   base="tiny", lora=lora, settings=settings)
    examples = [Example(q, a) for q, a in GOOD]
    verdict = llm_judge(local_store, good["adapter_key"], bad["adapter_key"], "tiny", examples, judge,
                        max_new_tokens=8, settings=settings)
    assert verdict["wins"] + verdict["ties"] + verdict["losses"] == 3 and judge.usage.calls == 6
    assert 0 <= verdict["first_shown_preferred"] <= 1
    itself = llm_judge(local_store, bad["adapter_key"], bad["adapter_key"], "tiny", examples, judge,
                       max_new_tokens=8, settings=settings)
    assert (itself["ties"], itself["win_rate"]) == (3, 0.5)  # identical answers: only position can differ


def test_answers_generated_in_batches_are_those_generated_one_at_a_time(settings):
    from autodp.models.base import load_base
    from autodp.search.evaluation import generate_answers

    model, tokenizer = load_base("tiny", settings)
    side = tokenizer.padding_side
    prompts = ["What is asthma?", "Explain, in two sentences, why gout flares up at night and what helps.", "Hi",
               "List three symptoms of eczema on the hands of adults who wash them often."]
    one_at_a_time = generate_answers(model, tokenizer, prompts, max_new_tokens=6, batch_size=1)
    assert generate_answers(model, tokenizer, prompts, max_new_tokens=6, batch_size=3) == one_at_a_time
    assert len(one_at_a_time) == 4 and tokenizer.padding_side == side


def test_contrastive_margin_is_the_reference_likelier_under_its_own_prompt_than_under_others(settings):
    from autodp.models.base import load_base
    from autodp.search.evaluation import contrastive_margin, reference_nll

    model, tokenizer = load_base("tiny", settings)
    examples = [Example(q, a) for q, a in GOOD]
    margin = contrastive_margin(model, tokenizer, examples, distractors=2, seed=0)
    own = reference_nll(model, tokenizer, examples)
    for i, example in enumerate(examples):  # with two distractors of three examples: both other prompts
        others = [Example(examples[j].prompt, example.reference) for j in range(3) if j != i]
        assert margin[i] == pytest.approx(reference_nll(model, tokenizer, others).mean() - own[i], abs=1e-5)
    with pytest.raises(ValueError, match="two examples"):
        contrastive_margin(model, tokenizer, examples[:1])
