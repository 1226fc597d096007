"""Unit tests of the MPCL building blocks in mpcl_sklearn.nn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mpcl_sklearn.nn import (
    AttentionPooling,
    CooccurrenceRetrieval,
    HierarchicalCompression,
    HopfieldRetrieval,
    MPCLNet,
    MultiScaleMemoryFusion,
    PrototypeBank,
    TokenEncoder,
    cooccurrence_loss,
    hopfield_retrieve,
    label_cooccurrence_target,
    prototype_diversity_loss,
    prototype_relation_distillation,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_hopfield_large_beta_recalls_nearest_pattern():
    patterns = F.normalize(torch.randn(1, 20, 16), dim=-1)
    # queries: noisy versions of patterns 3 and 11
    q = patterns[:, [3, 11]] + 0.05 * torch.randn(1, 2, 16)
    layer = HopfieldRetrieval(16, beta=200.0, layer_norm=False, projections=False)
    z = layer(q, patterns)
    nearest = (q @ patterns.transpose(1, 2)).argmax(-1)
    assert nearest.tolist() == [[3, 11]]
    torch.testing.assert_close(z, patterns[:, [3, 11]], atol=1e-4, rtol=0)


def test_hopfield_small_beta_averages():
    patterns = torch.randn(2, 10, 8)
    layer = HopfieldRetrieval(8, beta=1e-6, layer_norm=False, projections=False)
    z = layer(torch.randn(2, 3, 8), patterns)
    torch.testing.assert_close(
        z, patterns.mean(1, keepdim=True).expand(-1, 3, -1), atol=1e-4, rtol=0
    )


def test_hopfield_shapes_steps_and_stored_patterns():
    layer = HopfieldRetrieval(8, beta=2.0, n_steps=3, n_stored=5)
    out = layer(torch.randn(4, 6, 8))  # stored patterns only
    assert out.shape == (4, 6, 8)
    assert layer.stored.requires_grad
    out.sum().backward()
    assert layer.stored.grad is not None
    with pytest.raises(ValueError, match="patterns"):
        HopfieldRetrieval(8)(torch.randn(1, 2, 8))


def test_hopfield_retrieve_multi_beta_rows_sum_to_one():
    z, w = hopfield_retrieve(
        torch.randn(3, 4, 8), torch.randn(3, 7, 8), torch.randn(3, 7, 5), torch.tensor([0.5, 4.0])
    )
    assert z.shape == (3, 2, 4, 5) and w.shape == (3, 2, 4, 7)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 4))
    # the sharper beta is more concentrated
    ent = -(w * w.clamp_min(1e-12).log()).sum(-1).mean((0, 2))
    assert ent[1] < ent[0]


def test_token_encoder_uses_only_its_columns():
    enc = TokenEncoder([[0, 1], [2, 3, 4]], n_features=5, d=8)
    X = torch.randn(6, 5)
    T = enc(X)
    assert T.shape == (6, 2, 8)
    X2 = X.clone()
    X2[:, 2:] += 5.0  # only the second token's columns change
    T2 = enc(X2)
    torch.testing.assert_close(T[:, 0], T2[:, 0])
    assert not torch.allclose(T[:, 1], T2[:, 1])
    assert _n_params(enc) == 2 * 3 * 8 + 2 * 8 + 2 * 8  # padded weights, bias, LayerNorm


def test_memory_fusion_shapes_and_gate():
    fus = MultiScaleMemoryFusion(8, betas=(0.5, 2.0, 8.0), n_memory=4)
    h, tokens = fus(torch.randn(5, 3, 8))
    assert h.shape == (5, 8) and tokens.shape == (5, 3, 8)
    assert fus.gate.out_features == 3
    with pytest.raises(ValueError, match="positive"):
        MultiScaleMemoryFusion(8, betas=(0.0,))


def test_prototype_affinities_sum_to_one_per_emotion():
    bank = PrototypeBank(n_emotions=6, n_prototypes=3, d=8)
    out = bank(torch.randn(10, 8))
    assert out["affinity"].shape == (10, 6, 3)
    torch.testing.assert_close(out["affinity"].sum(-1), torch.ones(10, 6))
    assert out["tokens"].shape == (10, 6, 8)
    assert out["evidence"].shape == (10, 6)
    assert bank.relations().shape == (18, 18)
    stacked = PrototypeBank(6, 3, 8, n_banks=2)
    assert stacked.relations().shape == (2, 18, 18)


@pytest.mark.parametrize("n_banks", [1, 3])
def test_prototype_bank_matches_torch_softmax_and_logsumexp(n_banks):
    """The shared-exp fast path equals torch's softmax / logsumexp of the cosines / tau."""
    torch.manual_seed(0)
    bank = PrototypeBank(5, 4, 8, tau=0.1, n_banks=n_banks)
    h = torch.randn(7, 8)
    for index in range(n_banks):
        out = bank(h, index)
        P = bank.prototypes[index] if n_banks > 1 else bank.prototypes
        sim = torch.einsum(
            "bd,ckd->bck",
            torch.nn.functional.normalize(h, dim=-1),
            torch.nn.functional.normalize(P, dim=-1),
        )
        torch.testing.assert_close(out["similarity"], sim)
        torch.testing.assert_close(out["affinity"], torch.softmax(sim / 0.1, dim=-1))
        torch.testing.assert_close(out["evidence"], 0.1 * torch.logsumexp(sim / 0.1, dim=-1))
        mix = torch.einsum("bck,ckd->bcd", torch.softmax(sim / 0.1, dim=-1), P)
        torch.testing.assert_close(out["tokens"], bank.norm(h.unsqueeze(1) + mix))


def test_distillation_zero_for_identical_and_teacher_detached():
    t = torch.randn(4, 3, 2, requires_grad=True)
    assert prototype_relation_distillation(t.detach().clone(), t).item() == pytest.approx(
        0, abs=1e-6
    )
    s = torch.randn(4, 3, 2, requires_grad=True)
    loss = prototype_relation_distillation(s, t, torch.randn(6, 6), torch.randn(6, 6))
    assert loss.item() > 0
    loss.backward()
    assert s.grad is not None and t.grad is None


def test_cooccurrence_matrix_is_c_by_c_and_row_stochastic():
    C, K, d = 5, 3, 8
    cooc = CooccurrenceRetrieval(d)
    tokens, M = cooc(torch.randn(7, C, d), torch.randn(C, K, d))
    assert tokens.shape == (7, C, d)
    assert M.shape == (7, C, C)
    torch.testing.assert_close(M.sum(-1), torch.ones(7, C))


def test_label_cooccurrence_target():
    rng = np.random.default_rng(0)
    a = rng.random(200)
    Y = np.c_[a, a, 1 - a, np.full(200, 0.0)] + 1e-3
    Y /= Y.sum(1, keepdims=True)
    T = label_cooccurrence_target(Y)
    assert T.shape == (4, 4)
    np.testing.assert_allclose(T.sum(1), 1.0)
    assert T[0, 1] > T[0, 2]  # positively correlated emotions co-occur more
    assert np.isfinite(T).all()


def test_losses():
    target = torch.full((3, 3), 1 / 3)
    assert cooccurrence_loss(target.unsqueeze(0), target).item() == pytest.approx(0, abs=1e-6)
    same = torch.ones(2, 2, 4)
    assert prototype_diversity_loss(same).item() == pytest.approx(1.0)
    ortho = torch.eye(4).reshape(2, 2, 4)
    assert prototype_diversity_loss(ortho).item() == pytest.approx(0.0)


def test_hierarchical_compression_fixed_and_learned_groups():
    fixed = HierarchicalCompression(8, 4, membership=torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1]]))
    out, glob = fixed(torch.randn(3, 4, 8))
    assert out.shape == (3, 4, 8) and glob.shape == (3, 8)
    learned = HierarchicalCompression(8, 4, n_groups=3)
    torch.testing.assert_close(learned.membership().sum(1), torch.ones(4))
    with pytest.raises(ValueError, match="at least one emotion"):
        HierarchicalCompression(8, 2, membership=torch.tensor([[1, 0], [1, 0]]))
    assert AttentionPooling(8)(torch.randn(2, 5, 8)).shape == (2, 8)


GROUPS = [list(range(0, 6)), list(range(6, 10)), list(range(10, 14))]
BEHAVIOURAL = [False, False, True]


def _net(**kw) -> MPCLNet:
    return MPCLNet(14, 5, GROUPS, BEHAVIOURAL, d_model=8, prototypes_per_emotion=2, **kw)


@pytest.mark.parametrize(
    "switch",
    [
        "use_memory_fusion",
        "use_prototype_distillation",
        "use_cooccurrence_retrieval",
        "use_hierarchical_compression",
    ],
)
def test_each_switch_removes_its_component(switch):
    full, ablated = _net(), _net(**{switch: False})
    assert _n_params(ablated) < _n_params(full)
    X = torch.randn(9, 14)
    for net in (full, ablated):
        net.train()
        logp = net(X)
        assert logp.shape == (9, 5)
        torch.testing.assert_close(logp.exp().sum(-1), torch.ones(9))
        assert torch.isfinite(net.auxiliary_loss())
        net.eval()
        M = net.cooccurrence_matrix(X)
        assert M.shape == (5, 5)
        torch.testing.assert_close(M.sum(-1), torch.ones(5))


def test_no_behavioural_modality_single_branch():
    one_kind = MPCLNet(14, 5, GROUPS, [False] * 3, d_model=8, prototypes_per_emotion=2)
    assert one_kind.students == []
    assert one_kind.bank.prototypes.shape == (5, 2, 8)
    both = _net()
    assert both.students == ["physiological", "behavioural"]
    assert both.bank.prototypes.shape == (3, 5, 2, 8)  # fused + two student banks
    plain = MPCLNet(14, 5, [list(range(14))], None, d_model=8)
    plain.train()
    logp = plain(torch.randn(4, 14))
    assert torch.isfinite(logp).all() and torch.isfinite(plain.auxiliary_loss())


def test_distillation_only_in_training_and_gradients_reach_students():
    net = _net(cooccurrence_target=np.full((5, 5), 0.2))
    net.train()
    logp = net(torch.randn(16, 14))
    loss = F.kl_div(logp, torch.full((16, 5), 0.2), reduction="batchmean") + net.auxiliary_loss()
    loss.backward()
    grad = net.bank.prototypes.grad
    assert grad is not None and grad[2].abs().sum() > 0  # the behavioural student's bank
    assert net.student_queries.grad.abs().sum() > 0
    assert net.auxiliary_loss() is None  # cleared after reading
    net.eval()
    net(torch.randn(2, 14))
    assert net.auxiliary_loss() is None  # no auxiliary terms at inference


def test_softmax_helpers_match_torch():
    from mpcl_sklearn.nn.functional import log_softmax_bounded, softmax_lastdim

    x = torch.randn(4, 3, 9) * 5
    torch.testing.assert_close(softmax_lastdim(x), torch.softmax(x, dim=-1))
    bounded = torch.rand(4, 9) * 2 - 1  # cosines in [-1, 1]
    torch.testing.assert_close(
        log_softmax_bounded(bounded / 0.1, 1 / 0.1), torch.log_softmax(bounded / 0.1, dim=-1)
    )
