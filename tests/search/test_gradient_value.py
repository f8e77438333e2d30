"""Gradient features with the tiny model built in code: they are the per-record LoRA-B
gradients, sketched; computed once per record content; and a dataset's value compares as
documented."""

import numpy as np
import pytest

from autodp.models.lora import collate, encode
from autodp.search.config import LoraSettings
from autodp.search.gradient_value import (
    GradientFeatures,
    compare_value,
    flow_weights,
    normalised,
    per_reference_value,
)
from autodp.settings import Settings

PAIRS = [("What is asthma?", "Asthma is a chronic disease of the airways."),
         ("What is gout?", "Gout is arthritis caused by uric acid crystals in a joint."),
         ("What is eczema?", "Eczema is an itchy inflammation of the skin."),
         ("Name a bone.", "The femur."),
         ("What is a placeholder?", "")]


@pytest.fixture(scope="module")
def extractor(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return GradientFeatures(base="tiny", settings=Settings(home=home, store_uri=str(home / "store")),
                            lora=LoraSettings(max_length=64), dim=512, batch_size=3)


def test_features_are_each_records_own_lora_b_gradient_sketched(extractor):
    import torch

    features = extractor.features(PAIRS)
    assert features.shape == (len(PAIRS), 512)
    net = extractor.network
    for row, (prompt, response) in enumerate(PAIRS):
        batch = collate([encode(net.tokenizer, prompt, response, 64)], net.tokenizer.pad_token_id)
        net.model(**batch).loss.backward()  # one record alone: its mean response-token loss
        expected = torch.zeros(512)
        for index, module in enumerate(net.modules):
            expected.index_add_(0, net.buckets[index], module.weight.grad.reshape(-1) * net.signs[index])
        net.model.zero_grad(set_to_none=True)
        assert np.allclose(features[row], expected.numpy(), atol=1e-6, rtol=1e-4)
        assert np.abs(expected.numpy()).max() > 0


def test_features_are_computed_once_per_record_content(extractor):
    extractor.features(PAIRS)
    before = extractor.computed
    again = extractor.features(list(reversed(PAIRS)) + [PAIRS[0]])
    assert extractor.computed == before
    assert np.array_equal(again[0], extractor.features([PAIRS[-1]])[0])
    extractor.features([("What is gout?", "Gout is a kind of arthritis.")])
    assert extractor.computed == before + 1


def test_value_of_a_dataset_compares_against_another_on_the_references(extractor):
    references = extractor.features(PAIRS[:3])
    records = extractor.features(PAIRS)
    for form in ("inner", "cosine"):
        values = per_reference_value(records, references, form)
        assert values.shape == (3,)
    # On the references themselves, a dataset's inner value is |mean feature|^2.
    own = per_reference_value(references, references, "inner")
    assert own.mean() == pytest.approx(float(references.mean(axis=0) @ references.mean(axis=0)), rel=1e-5)
    same = compare_value(records, records, references)
    assert same["mean"] == 0 and same["ci95"] == [0.0, 0.0] and not same["separated"]
    # The references' own records against their opposites: every reference prefers the first.
    for sampled in (False, True):
        opposite = compare_value(references, -references, references, sampled_records=sampled)
        assert opposite["mean"] > 0 and opposite["ci95"][0] > 0 and opposite["separated"]
    with pytest.raises(ValueError, match="form"):
        per_reference_value(records, references, "euclid")


def _features(rows: int, seed: int, shared: float = 0.3, dim: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Records and references that share one direction, each with its own noise."""
    rng = np.random.default_rng(seed)
    common = normalised(rng.normal(size=(1, dim)))[0]
    records = shared * common + normalised(rng.normal(size=(rows, dim)))
    references = common + normalised(rng.normal(size=(40, dim)))
    return records, references


def test_flow_is_gradient_flow_on_saturating_record_losses():
    """The closed form against the definition, integrated step by step: the update moves
    down the mean over records (repeats counted) of u + u^2/2, u = <record, update>."""
    records, references = _features(30, seed=1)
    records = np.concatenate([records, records[:5], records[:5]])  # five records three times
    horizon, steps = 4.0, 4000
    units, update = normalised(records), np.zeros(records.shape[1])
    for _ in range(steps):
        update -= horizon / steps * units.T @ (1 + units @ update) / len(units)
    expected = -normalised(references) @ update
    assert np.allclose(per_reference_value(records, references, "flow", horizon), expected, rtol=2e-3, atol=1e-6)
    # Near time zero it is the cosine value times the time.
    assert np.allclose(per_reference_value(records, references, "flow", 1e-4) / 1e-4,
                       per_reference_value(records, references, "cosine"), rtol=1e-3)
    distinct, weights = flow_weights(records[::-1], horizon)  # order does not matter
    assert len(distinct) == 30 and np.allclose(normalised(references) @ distinct.T @ weights, expected, rtol=2e-3)
    with pytest.raises(ValueError, match="horizon"):
        flow_weights(records, 0)


def test_flow_sees_quantity_and_repetition_where_the_cosine_does_not():
    records, references = _features(400, seed=2)
    rng = np.random.default_rng(3)
    order = rng.permutation(400)
    tenth, repeated = records[order[:40]], np.repeat(records[order[:80]], 5, axis=0)
    cosine = {name: per_reference_value(rows, references, "cosine").mean()
              for name, rows in (("whole", records), ("tenth", tenth), ("repeated", repeated))}
    assert abs(cosine["tenth"] - cosine["whole"]) < 0.02 and abs(cosine["repeated"] - cosine["whole"]) < 0.02
    flow = compare_value(tenth, records, references, "flow")
    assert flow["signal"] == "gradient_flow" and flow["ci95"][1] < 0
    assert compare_value(repeated, records, references, "flow")["ci95"][1] < 0
    assert compare_value(tenth, repeated, references, "flow")["ci95"][1] < 0  # 40 distinct below 80
    with pytest.raises(ValueError, match="whole"):
        compare_value(tenth, records, references, "flow", sampled_records=True)
