"""Gradient features with the tiny model built in code: they are the per-record LoRA-B
gradients, sketched; computed once per record content; and a dataset's value compares as
documented."""

import numpy as np
import pytest

from autodp.models.lora import collate, encode
from autodp.search.config import LoraSettings
from autodp.search.gradient_value import GradientFeatures, compare_value, per_reference_value
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
