"""Evaluation pass of stacked MPCL members as plain batched tensor operations.

:class:`~mpcl_sklearn.nn.StackedMPCLNet` trains its members with ``torch.func.vmap`` over the
stacked parameters. In prediction that costs: every call re-binds the parameters
(``functional_call``) and every operation goes through vmap's batching rules, about three times
a single network's per-operation cost, and some batched matrix products copy their weights once
per row. This module writes :meth:`MPCLNet.forward <mpcl_sklearn.nn.MPCLNet.forward>` in
evaluation mode (fused branch only, no dropout) with the member axis leading every tensor, each
linear map one ``bmm`` over the members' rows, and the parameter-only quantities (the
prototypes' keys and values, the memory's projections, the normalised prototypes) computed once
by :func:`prepare_members`. It gives the same outputs as the vmap pass up to float rounding
(tested against it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .functional import softmax_lastdim

__all__ = ["members_log_proba", "prepare_members"]


def _mm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x (K, ..., n) @ w (K, n, m) -> (K, ..., m)`` as one ``bmm`` over the flattened rows."""
    rows = x.reshape(x.shape[0], -1, x.shape[-1])
    return torch.bmm(rows, w).reshape(*x.shape[:-1], w.shape[-1])


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, prep: dict):
    """LayerNorm over the last axis with each member's own affine ``weight``, ``bias`` (K, d)."""
    shape = (weight.shape[0],) + (1,) * (x.dim() - 2) + (weight.shape[-1],)
    # torch's kernel with a unit affine is faster on CPU than without one; same values
    z = F.layer_norm(x, x.shape[-1:], prep["ones"], prep["zeros"], eps=prep["eps"])
    return torch.addcmul(bias.view(shape), z, weight.view(shape))


def _attention_pool(tokens: torch.Tensor, query: torch.Tensor, scale: float) -> torch.Tensor:
    """:class:`~mpcl_sklearn.nn.AttentionPooling` of (K, B, n, d) with queries (K, d)."""
    a = softmax_lastdim(_mm(tokens, query.unsqueeze(-1)).squeeze(-1) * scale)
    return (a.unsqueeze(-1) * tokens).sum(-2)


def prepare_members(template: nn.Module, state: dict[str, torch.Tensor]) -> dict | None:
    """The members' parameter-only quantities for :func:`members_log_proba`.

    Parameters
    ----------
    template : MPCLNet
        The member architecture (only its structure and constants are read).
    state : dict
        Every parameter and buffer of the members by name, stacked on a leading axis.

    Returns
    -------
    dict, or None when the members' token layouts differ (then use the vmap pass)
    """
    index = state["encoder.index"]  # (K, T, W)
    if not bool((index == index[0]).all()):
        return None
    W = state["encoder.weight"]  # (K, T, W, d)
    K, T, width, d = W.shape
    eps = template.encoder.norm.eps
    prep = {
        "K": K,
        "T": T,
        "d": d,
        "eps": eps,
        "ones": W.new_ones(d),
        "zeros": W.new_zeros(d),
        "index": index[0],
        # token t of all members at once: (T, W, K * d)
        "token_weight": W.permute(1, 2, 0, 3).reshape(T, width, K * d),
    }
    fusion = template.fusion
    if hasattr(fusion, "w_qkv"):
        if fusion.memory is not None:
            mem = _mm(state["fusion.memory"], state["fusion.w_qkv.weight"].transpose(1, 2))
            prep["memory_keys_t"] = mem[..., d : 2 * d].transpose(1, 2)  # (K, d, M)
            prep["memory_values"] = mem[..., 2 * d :]  # (K, M, d)
    P = state["bank.prototypes"]
    P = P[:, 0] if P.dim() == 5 else P  # the fused branch's bank: (K, C, Kp, d)
    prep["prototypes"] = P
    prep["prototypes_normalized"] = F.normalize(P, dim=-1)
    C, Kp = P.shape[1], P.shape[2]
    if template.cooccurrence is not None:
        flat = P.reshape(K, C * Kp, d)
        keys = _mm(flat, state["cooccurrence.w_k.weight"].transpose(1, 2))  # (K, CK, d)
        beta = state["cooccurrence.betas"].view(K, 1, 1)
        # scores = beta (E W_q^T) keys^T = E (beta W_q^T keys^T)
        prep["cooc_scores"] = (
            torch.bmm(state["cooccurrence.w_q.weight"].transpose(1, 2), keys.transpose(1, 2)) * beta
        )  # (K, d, CK)
        prep["cooc_values"] = _mm(flat, state["cooccurrence.w_v.weight"].transpose(1, 2))
        if template.cooccurrence.prior_logits is not None:
            prep["cooc_bias"] = state["cooccurrence.prior_logits"].repeat_interleave(Kp, dim=-1)
    compression = template.compression
    if compression is not None:
        if compression.membership_fixed is not None:
            m = state["compression.membership_fixed"]
        else:
            m = softmax_lastdim(state["compression.membership_logits"])
        prep["membership"] = m  # (K, C, G)
        prep["log_membership_t"] = torch.log(m.transpose(1, 2).clamp_min(1e-6))  # (K, G, C)
    if template.linear is not None:
        V = state["linear.weight"]  # (K, C, F): all members' read-outs in one (F, K * C)
        prep["linear"] = V.permute(2, 0, 1).reshape(V.shape[-1], K * V.shape[1])
    return prep


def members_log_proba(
    template: nn.Module, state: dict[str, torch.Tensor], prep: dict, X: torch.Tensor
) -> torch.Tensor:
    """Every member's evaluation-mode log-probabilities for standardised ``X`` (B, F).

    Returns
    -------
    Tensor of shape (K, B, C)
    """
    K, T, d = prep["K"], prep["T"], prep["d"]
    B = X.shape[0]
    s = state
    # 1. tokens: the shared column gather, then every token's map for all members at once
    G = torch.cat([X, X.new_zeros(B, 1)], dim=1)[:, prep["index"]].transpose(0, 1)  # (T,B,W)
    H = torch.bmm(G, prep["token_weight"]).view(T, B, K, d).permute(2, 1, 0, 3)
    tokens = F.gelu(H + s["encoder.bias"].unsqueeze(1))
    tokens = _layer_norm(tokens, s["encoder.norm.weight"], s["encoder.norm.bias"], prep)
    # 2. fused branch representation
    fusion = template.fusion
    if hasattr(fusion, "w_qkv"):
        q, k, v = _mm(tokens, s["fusion.w_qkv.weight"].transpose(1, 2)).split(d, dim=-1)
        scores = q @ k.transpose(-1, -2)  # (K, B, T, T)
        if "memory_keys_t" in prep:
            scores = torch.cat([scores, _mm(q, prep["memory_keys_t"])], -1)
        betas = s["fusion.betas"]  # (K, S)
        w = softmax_lastdim(scores.unsqueeze(2) * betas[:, None, :, None, None])
        gate = _mm(tokens.mean(2), s["fusion.gate.weight"].transpose(1, 2))
        g = softmax_lastdim(gate + s["fusion.gate.bias"].unsqueeze(1))  # (K, B, S)
        wm = torch.einsum("kbs,kbstm->kbtm", g, w)
        fused = wm[..., :T] @ v
        if "memory_keys_t" in prep:
            fused = fused + _mm(wm[..., T:], prep["memory_values"])
        out = _layer_norm(fused.add_(tokens), s["fusion.norm.weight"], s["fusion.norm.bias"], prep)
        h = _attention_pool(out, s["fusion.pool.query"], fusion.pool.scale)
    else:  # mean pooling (memory fusion switched off)
        h = tokens.mean(2)
    # 3. prototype bank of the fused branch
    tau = template.bank.tau
    P = prep["prototypes"]
    sim = torch.einsum("kbd,kcpd->kbcp", F.normalize(h, dim=-1), prep["prototypes_normalized"])
    e = torch.exp((sim - 1.0) / tau)
    z = e.sum(-1, keepdim=True)
    E = h.unsqueeze(2) + torch.einsum("kbcp,kcpd->kbcd", e / z, P)
    E = _layer_norm(E, s["bank.norm.weight"], s["bank.norm.bias"], prep)
    evidence = tau * torch.log(z.squeeze(-1)) + 1.0
    # 4. co-occurrence retrieval
    if template.cooccurrence is not None:
        logits = _mm(E, prep["cooc_scores"])  # (K, B, C, CK)
        if "cooc_bias" in prep:
            logits.add_(prep["cooc_bias"].unsqueeze(1))
        retrieved = _mm(torch.softmax(logits, -1), prep["cooc_values"])
        E = _layer_norm(
            retrieved.add_(E), s["cooccurrence.norm.weight"], s["cooccurrence.norm.bias"], prep
        )
    # 5. hierarchical compression
    compression = template.compression
    if compression is not None:
        logits = torch.einsum("kbcd,kgd->kbgc", E, s["compression.group_queries"])
        logits = logits * compression.scale + prep["log_membership_t"].unsqueeze(1)
        groups = softmax_lastdim(logits) @ E  # (K, B, G, d)
        glob = _attention_pool(
            groups, s["compression.global_pool.query"], compression.global_pool.scale
        )
        # W_u (sum_g m_cg u_g) = sum_g m_cg (W_u u_g): the map runs on G tokens, not C
        ctx = torch.einsum(
            "kcg,kbgd->kbcd",
            prep["membership"],
            _mm(groups, s["compression.w_group.weight"].transpose(1, 2)),
        )
        bias = s["compression.w_group.bias"] + s["compression.w_global.bias"]
        summary = _mm(glob, s["compression.w_global.weight"].transpose(1, 2)) + bias.unsqueeze(1)
        E = _layer_norm(
            ctx.add_(summary.unsqueeze(2)).add_(E),
            s["compression.norm.weight"],
            s["compression.norm.bias"],
            prep,
        )
    # 6. head
    logits = _mm(E, s["head.weight"].transpose(1, 2)).squeeze(-1) + s["head.bias"].unsqueeze(1)
    logits = logits + s["emotion_bias"].unsqueeze(1)
    logits = logits + s["evidence_scale"].view(K, 1, 1) * evidence
    if "linear" in prep:
        logits = logits + (X @ prep["linear"]).view(B, K, -1).transpose(0, 1)
    return torch.log_softmax(logits, dim=-1)
