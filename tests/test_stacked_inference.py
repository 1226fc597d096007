"""The evaluation pass of stacked MPCL members (nn.stacked_inference) equals the vmap pass."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
import torch
from _problems import make_multimodal_problem

from mpcl_sklearn.models import MPCLDistributionRegressor
from mpcl_sklearn.nn import stacked_inference
from mpcl_sklearn.nn.ensemble import StackedEnsemble
from mpcl_sklearn.nn.mpcl import StackedMPCLNet

GROUPS = [[0, 1, 2, 3], [4, 5], [6, 7, 8], [9, 10, 11]]
BEHAVIOURAL = [False, False, True, True]


def _stacked(**kwargs) -> StackedMPCLNet:
    torch.manual_seed(0)
    args = dict(
        n_features=12,
        n_emotions=5,
        token_groups=GROUPS,
        behavioural=BEHAVIOURAL,
        d_model=8,
        prototypes_per_emotion=3,
        cooccurrence_target=np.full((5, 5), 0.2) + np.eye(5) * 0.3,
        cooccurrence_prior=True,
        use_linear_evidence=True,
    )
    args.update(kwargs)
    module = StackedMPCLNet(n_members=3, **args)
    with torch.no_grad():  # move every weight off its initial value (zeros, ones, ...)
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return module.eval()


def _reference(module: StackedMPCLNet, X: torch.Tensor) -> torch.Tensor:
    """The vmap pass: log of the members' mean probability."""
    with torch.no_grad():
        out = module.member_log_proba(X)
    return torch.logsumexp(out, 0) - math.log(module.n_members)


def _fast(module: StackedMPCLNet, X: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        out = module(X)
    assert module._inference_cache is not None and module._inference_cache[1] is not None
    return out


CONFIGS = {
    "default": {},
    "no memory fusion": {"use_memory_fusion": False},
    "no stored patterns": {"n_memory": 0},
    "no co-occurrence retrieval": {"use_cooccurrence_retrieval": False},
    "no co-occurrence prior": {"cooccurrence_prior": False},
    "no compression": {"use_hierarchical_compression": False},
    "fixed affect groups": {"affect_groups": np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1]])},
    "no linear evidence": {"use_linear_evidence": False},
    "no distillation": {"use_prototype_distillation": False},
    "single token": {"token_groups": [list(range(12))], "behavioural": [False]},
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_evaluation_pass_equals_the_vmap_pass(config):
    module = _stacked(**CONFIGS[config])
    X = torch.randn(37, 12) * 2
    torch.testing.assert_close(_fast(module, X), _reference(module, X), rtol=0, atol=2e-6)


def test_rows_beyond_one_chunk_and_a_single_row(monkeypatch):
    module = _stacked()
    monkeypatch.setattr(StackedMPCLNet, "inference_chunk", 16)
    X = torch.randn(50, 12)
    torch.testing.assert_close(_fast(module, X), _reference(module, X), rtol=0, atol=2e-6)
    torch.testing.assert_close(_fast(module, X[:1]), _reference(module, X[:1]), rtol=0, atol=2e-6)


def test_changed_weights_are_noticed():
    module = _stacked()
    X = torch.randn(9, 12)
    before = _fast(module, X)
    with torch.no_grad():  # in place, as an optimizer or the weight averaging does
        module.stacked["fusion:w_qkv:weight"].mul_(1.5)
    after = _fast(module, X)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, _reference(module, X), rtol=0, atol=2e-6)
    other = _stacked()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(0.5)
    module.load_state_dict(other.state_dict())
    torch.testing.assert_close(_fast(module, X), _reference(other, X), rtol=0, atol=2e-6)


def test_gradients_and_training_use_the_vmap_pass():
    module = _stacked()
    X = torch.randn(6, 12)
    out = module(X)  # evaluation with gradients enabled
    assert out.requires_grad and module._inference_cache is None
    out.sum().backward()
    assert module.stacked["head:weight"].grad is not None
    module.train()
    assert module(torch.randn(3, 6, 12)).shape == (3, 6, 5)


def test_the_cache_is_neither_pickled_nor_shared_by_copies():
    module = _stacked()
    X = torch.randn(5, 12)
    expected = _fast(module, X)
    again = pickle.loads(pickle.dumps(module))
    assert again._inference_cache is None
    torch.testing.assert_close(_fast(again, X), expected)
    twin = copy.deepcopy(module)
    with torch.no_grad():
        twin.stacked["emotion_bias"].add_(1.0)
    torch.testing.assert_close(_fast(twin, X), _reference(twin, X), rtol=0, atol=2e-6)
    torch.testing.assert_close(_fast(module, X), expected)


def test_differing_token_layouts_fall_back_to_vmap():
    module = _stacked()
    index = module.get_buffer("buffer:encoder:index")
    index[1] = index[1].flip(-1)  # another member's column order (no estimator builds this)
    assert stacked_inference.prepare_members(module.template, _state(module)) is None
    X = torch.randn(4, 12)
    with torch.inference_mode():
        out = module(X)
    torch.testing.assert_close(out, _reference(module, X))


def _state(module):
    params, buffers = module._state()
    return {**params, **buffers}


def test_fitted_default_model_predicts_as_with_the_vmap_pass(monkeypatch):
    X, Y, G = make_multimodal_problem(
        {"eeg": 10, "face": 5},
        n_subjects=6,
        per_subject=25,
        n_emotions=4,
        offset_scale=0.7,
        noise_scale=1.0,
    )
    est = MPCLDistributionRegressor(shrinkage=None, max_epochs=3, random_state=0)
    est.fit(X, Y, groups=G)
    assert isinstance(est.net_.module_, StackedMPCLNet) and est.combination_weights_["network"]
    fast = est.predict(X)
    monkeypatch.setattr(StackedMPCLNet, "forward", StackedEnsemble.forward)
    reference = est.predict(X)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-6)
