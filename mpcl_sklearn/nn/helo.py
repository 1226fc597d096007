"""HeLo (Zheng et al., ACM MM 2025) as a PyTorch module, with the released code's defects fixed.

HeLo maps physiological and behavioural feature vectors to an emotion distribution:

1. every modality is encoded into ``n_tokens`` tokens of width ``d_model`` by a linear map;
2. the physiological modalities are fused by cross-attention, with queries from the first
   physiological modality and keys/values from each of the others (one shared attention layer,
   residual + LayerNorm); the fused tokens are concatenated and projected;
3. the physiological tokens are aligned with the behavioural tokens by optimal transport: the
   Gromov-Wasserstein plan between the two token sets (uniform marginals, thresholded cosine
   intra-set costs, inner proximal-point solver IPOT, as in the released code) is computed
   without gradient ("detached") and the physiological tokens are moved onto the behavioural
   token positions by the barycentric map ``n_b * T^T @ phys``;
4. one shared transformer encoder layer is applied to each token set; the sets are concatenated
   and a linear map over the token axis gives one token per emotion;
5. label-correlation-driven cross-attention (LCD-CA): a learned label embedding ``E`` (C x d)
   queries the emotion tokens, with the learned label correlation ``R_hat = N(E) N(E)^T`` (rows
   L2-normalised along the feature axis) added to the attention logits;
6. an MLP head gives the logits of the C emotions; :meth:`HeLoModule.forward` returns
   log-probabilities.

The training loss is ``KL(d || d_hat) + lambda_corr * MSE(R_hat, R)`` where ``R`` is the label
correlation of the training targets; :meth:`HeLoModule.correlation_loss` returns the second term.

Fixed with respect to the released code (``kaio-99/HeLo`` @ 08dad27, see docs/baselines.md):
the label embedding is a registered, learned parameter (the code re-sampled it with
``torch.rand`` at every call); DropKey masking and dropout act only in training mode (the code
masked attention logits at test time too); ``F.normalize`` runs along the feature axis; the
ground-truth correlation is the correlation matrix of the training label distributions, not the
rank-1 outer product of each sample's own label.

When there is no behavioural modality, step 3 is skipped and the transformer and the emotion
projection see the physiological tokens only; with a single physiological modality, step 2 is
skipped (there is nothing to cross-attend to).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HeLoModule", "HeLoNet", "gromov_wasserstein_ipot", "thresholded_cosine_cost"]

_TINY = 1e-12


def thresholded_cosine_cost(tokens: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Intra-set cost of HeLo's Gromov-Wasserstein step.

    The cosine distance between the tokens of each sample, minus ``min + threshold * (max -
    min)`` of that sample's matrix, clipped at 0 (small distances count as none).

    Parameters
    ----------
    tokens : Tensor of shape (batch, n, d)
    threshold : float
        Fraction of the distance range that is zeroed.

    Returns
    -------
    Tensor of shape (batch, n, n)
    """
    unit = F.normalize(tokens, dim=-1)
    cost = 1.0 - unit @ unit.transpose(1, 2)
    lo = cost.amin(dim=(1, 2), keepdim=True)
    hi = cost.amax(dim=(1, 2), keepdim=True)
    return F.relu(cost - (lo + threshold * (hi - lo)))


def _ipot(
    cost: torch.Tensor,
    p: torch.Tensor,
    q: torch.Tensor,
    plan: torch.Tensor,
    beta: float,
    n_iter: int,
) -> torch.Tensor:
    """Inexact proximal-point OT (Xie et al., 2020), batched, one Sinkhorn step per iteration."""
    # shifting the cost by a per-sample constant rescales the kernel only; it keeps exp finite
    cost = cost - cost.amin(dim=(1, 2), keepdim=True)
    kernel = torch.exp(-cost / beta)
    b = q.clone()
    for _ in range(n_iter):
        Q = kernel * plan
        a = p / (Q @ b + _TINY)
        b = q / (Q.transpose(1, 2) @ a + _TINY)
        plan = a * Q * b.transpose(1, 2)
    return plan


def gromov_wasserstein_ipot(
    cost_s: torch.Tensor,
    cost_t: torch.Tensor,
    *,
    beta: float = 0.1,
    n_outer: int = 5,
    n_inner: int = 20,
) -> torch.Tensor:
    """Gromov-Wasserstein transport plans with uniform marginals, solved by IPOT.

    With square loss, the GW objective's linearisation at plan ``T`` has the cost
    ``C_st - 2 C_s T C_t^T`` where ``C_st = (C_s^2 p) 1^T + 1 (C_t^2 q)^T``; each outer
    iteration re-linearises and runs ``n_inner`` proximal-point (IPOT) steps with kernel
    ``exp(-cost / beta)``.

    Parameters
    ----------
    cost_s : Tensor of shape (batch, n, n)
        Intra-set costs of the source tokens.
    cost_t : Tensor of shape (batch, m, m)
        Intra-set costs of the target tokens.
    beta : float
        Proximal step (entropic temperature) of IPOT.
    n_outer, n_inner : int
        Numbers of linearisations and of IPOT steps per linearisation.

    Returns
    -------
    Tensor of shape (batch, n, m)
        Plans whose rows sum to 1/n and columns to 1/m.
    """
    batch, n, m = cost_s.shape[0], cost_s.shape[1], cost_t.shape[1]
    p = cost_s.new_full((batch, n, 1), 1.0 / n)
    q = cost_s.new_full((batch, m, 1), 1.0 / m)
    c_st = (cost_s**2) @ p + ((cost_t**2) @ q).transpose(1, 2)
    plan = p @ q.transpose(1, 2)
    for _ in range(n_outer):
        cost = c_st - 2.0 * cost_s @ plan @ cost_t.transpose(1, 2)
        plan = _ipot(cost, p, q, plan, beta, n_inner)
    return plan


class _CrossAttention(nn.Module):
    """Multi-head cross-attention with DropKey, an optional additive logit bias, residual + LN.

    ``out = LN(x + W_o softmax((x W_q)(y W_k)^T / sqrt(d_h) + bias / sqrt(d_h) + M) y W_v)``.
    DropKey (Xu et al., 2023) adds ``-inf`` to each logit with probability ``dropkey`` in
    training mode only; it never masks at evaluation.
    """

    def __init__(self, d_model: int, n_heads: int, attn_dropout: float, dropkey: float):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(attn_dropout)
        self.dropkey = float(dropkey)
        self.norm = nn.LayerNorm(d_model)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.n_heads, self.d_head).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        q, k, v = self._split(self.q(x)), self._split(self.k(y)), self._split(self.v(y))
        logits = q @ k.transpose(-2, -1)
        if bias is not None:
            logits = logits + bias
        logits = logits / self.d_head**0.5
        if self.training and self.dropkey > 0:
            drop = torch.rand_like(logits) < self.dropkey
            # never drop every key of a query: keep the largest logit
            drop &= ~F.one_hot(logits.argmax(-1), logits.shape[-1]).bool()
            logits = logits.masked_fill(drop, float("-inf"))
        attn = self.drop(torch.softmax(logits, dim=-1))
        mixed = (attn @ v).transpose(1, 2).reshape(x.shape)
        return self.norm(x + self.out(mixed))


class HeLoModule(nn.Module):
    """HeLo network on a flat feature matrix whose columns are split into modalities.

    Parameters
    ----------
    phys_columns : sequence of sequences of int
        Column indices of each physiological modality, the query modality first. At least one.
    beh_columns : sequence of sequences of int
        Column indices of each behavioural modality (may be empty: OT is then skipped).
    n_outputs : int
        Number of emotions C.
    label_corr : array-like of shape (C, C), optional
        Target label correlation for :meth:`correlation_loss` (a buffer); identity if omitted.
    d_model : int
        Token width.
    n_tokens : int
        Tokens per modality.
    n_heads : int
        Heads of the physiological cross-attention and of the transformer encoder.
    ffn_dim : int
        Feed-forward width of the transformer encoder.
    depth : int
        Number of shared transformer encoder layers.
    dropout : float
        Dropout in the transformer encoder and the head.
    attn_dropout : float
        Dropout on the cross-attention weights (training only).
    dropkey : float
        DropKey ratio of the cross-attentions (training only).
    hidden_size : int
        Width of the two hidden layers of the head.
    use_ot : bool
        Whether to align physiological to behavioural tokens by Gromov-Wasserstein transport
        (ignored without behavioural modalities). False concatenates the two sets unaligned.
    ot_beta, ot_outer_iter, ot_inner_iter, ot_threshold : float, int, int, float
        IPOT temperature, GW linearisations, IPOT steps per linearisation, cost threshold.
    """

    def __init__(
        self,
        phys_columns: Sequence[Sequence[int]],
        beh_columns: Sequence[Sequence[int]],
        n_outputs: int,
        label_corr=None,
        d_model: int = 32,
        n_tokens: int = 4,
        n_heads: int = 4,
        ffn_dim: int = 64,
        depth: int = 1,
        dropout: float = 0.1,
        attn_dropout: float = 0.1,
        dropkey: float = 0.1,
        hidden_size: int = 64,
        use_ot: bool = True,
        ot_beta: float = 0.1,
        ot_outer_iter: int = 5,
        ot_inner_iter: int = 20,
        ot_threshold: float = 0.1,
    ):
        super().__init__()
        phys_columns = [list(map(int, c)) for c in phys_columns]
        beh_columns = [list(map(int, c)) for c in beh_columns]
        if not phys_columns or any(len(c) == 0 for c in phys_columns + beh_columns):
            raise ValueError("HeLo needs at least one physiological modality and no empty ones")
        self.n_tokens = int(n_tokens)
        self.d_model = int(d_model)
        self.n_outputs = int(n_outputs)
        self.use_ot = bool(use_ot)
        self.ot_beta = float(ot_beta)
        self.ot_outer_iter = int(ot_outer_iter)
        self.ot_inner_iter = int(ot_inner_iter)
        self.ot_threshold = float(ot_threshold)
        for i, cols in enumerate(phys_columns):
            self.register_buffer(f"phys_idx_{i}", torch.tensor(cols), persistent=False)
        for i, cols in enumerate(beh_columns):
            self.register_buffer(f"beh_idx_{i}", torch.tensor(cols), persistent=False)
        self.n_phys, self.n_beh = len(phys_columns), len(beh_columns)
        tok = self.n_tokens * self.d_model
        self.phys_encoders = nn.ModuleList(nn.Linear(len(c), tok) for c in phys_columns)
        self.beh_encoders = nn.ModuleList(nn.Linear(len(c), tok) for c in beh_columns)
        self.phys_attention = _CrossAttention(d_model, n_heads, attn_dropout, dropkey)
        self.phys_proj = nn.Linear(d_model, d_model)
        self.encoder = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model,
                n_heads,
                dim_feedforward=ffn_dim,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
            )
            for _ in range(int(depth))
        )
        n_phys_tokens = self.n_tokens * max(self.n_phys - 1, 1)
        n_beh_tokens = self.n_tokens * self.n_beh
        n_all = (n_beh_tokens if self.use_ot else n_phys_tokens) + n_beh_tokens
        if self.n_beh == 0:
            n_all = n_phys_tokens
        self.to_emotions = nn.Linear(n_all, self.n_outputs)
        self.label_embedding = nn.Parameter(0.1 * torch.randn(self.n_outputs, d_model))
        self.label_attention = _CrossAttention(d_model, 1, attn_dropout, dropkey)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.n_outputs * d_model, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, self.n_outputs),
        )
        if label_corr is None:
            corr = torch.eye(self.n_outputs)
        else:
            corr = torch.as_tensor(label_corr, dtype=torch.float32)
            if corr.shape != (self.n_outputs, self.n_outputs):
                raise ValueError(f"label_corr must be {self.n_outputs}x{self.n_outputs}")
        self.register_buffer("label_corr", corr)

    def _tokens(self, encoder: nn.Module, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return encoder(x.index_select(1, idx)).view(x.shape[0], self.n_tokens, self.d_model)

    def label_correlation(self) -> torch.Tensor:
        """Learned label correlation ``N(E) N(E)^T`` (cosine similarities), shape (C, C)."""
        unit = F.normalize(self.label_embedding, dim=-1)
        return unit @ unit.T

    def correlation_loss(self) -> torch.Tensor:
        """``MSE(R_hat, R)``: learned vs training label correlation (a scalar)."""
        return F.mse_loss(self.label_correlation(), self.label_corr)

    def transport_plan(self, phys: torch.Tensor, beh: torch.Tensor) -> torch.Tensor:
        """The detached Gromov-Wasserstein plan between physiological and behavioural tokens."""
        with torch.no_grad():
            plan = gromov_wasserstein_ipot(
                thresholded_cosine_cost(phys.float(), self.ot_threshold),
                thresholded_cosine_cost(beh.float(), self.ot_threshold),
                beta=self.ot_beta,
                n_outer=self.ot_outer_iter,
                n_inner=self.ot_inner_iter,
            )
        return plan.to(phys.dtype)

    def forward(self, X: torch.Tensor, **kwargs) -> torch.Tensor:
        """Log-probabilities of the C emotions, shape (batch, C).

        Extra keyword arguments (e.g. routed metadata) are ignored.
        """
        phys = [
            self._tokens(enc, X, getattr(self, f"phys_idx_{i}"))
            for i, enc in enumerate(self.phys_encoders)
        ]
        if len(phys) > 1:
            fused = [self.phys_attention(phys[0], other) for other in phys[1:]]
            p = self.phys_proj(torch.cat(fused, dim=1))
        else:
            p = phys[0]
        if self.n_beh:
            b = torch.cat(
                [
                    self._tokens(enc, X, getattr(self, f"beh_idx_{i}"))
                    for i, enc in enumerate(self.beh_encoders)
                ],
                dim=1,
            )
            if self.use_ot:
                plan = self.transport_plan(p, b)
                p = b.shape[1] * plan.transpose(1, 2) @ p
        for layer in self.encoder:
            p = layer(p)
        if self.n_beh:
            for layer in self.encoder:
                b = layer(b)
            tokens = torch.cat([p, b], dim=1)
        else:
            tokens = p
        emotions = self.to_emotions(tokens.transpose(1, 2)).transpose(1, 2)  # (B, C, d)
        query = self.label_embedding.unsqueeze(0).expand(X.shape[0], -1, -1)
        z = self.label_attention(query, emotions, bias=self.label_correlation())
        return torch.log_softmax(self.head(z), dim=-1)


class HeLoNet(HeLoModule):
    """:class:`HeLoModule` with its training loss composed: the auxiliary loss is
    ``lambda_corr * correlation_loss()`` (none when ``lambda_corr == 0``).

    Parameters
    ----------
    *args, **kwargs
        Those of :class:`HeLoModule`.
    lambda_corr : float, default=1.0
        Weight of the label-correlation loss.
    """

    def __init__(self, *args, lambda_corr: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.lambda_corr = float(lambda_corr)

    def auxiliary_loss(self) -> torch.Tensor | None:
        """``lambda_corr * MSE(R_hat, R)``, added to the KL loss in training."""
        if self.lambda_corr == 0.0:
            return None
        return self.lambda_corr * self.correlation_loss()
