"""MPCLNet: the assembled memory-guided prototypical co-occurrence network (our formulation)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .compression import HierarchicalCompression
from .cooccurrence import CooccurrenceRetrieval
from .distillation import prototype_relation_distillation
from .ensemble import StackedEnsemble
from .functional import softmax_lastdim
from .fusion import MultiScaleMemoryFusion
from .losses import cooccurrence_loss, prototype_diversity_loss
from .prototypes import PrototypeBank
from .stacked_inference import members_log_proba, prepare_members
from .tokens import TokenEncoder

__all__ = ["MPCLNet", "StackedMPCLNet"]


class _MeanPool(nn.Module):
    """Parameter-free stand-in for the memory fusion (switched off): mean over tokens."""

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return tokens.mean(1), tokens


class MPCLNet(nn.Module):
    """Feature table -> emotion log-probabilities, with MPCL's auxiliary losses.

    1. ``TokenEncoder``: one token per (modality, scale) column group.
    2. Branches: *fused* (all tokens) and, when both kinds of modality are present and
       distillation is on, *physiological* and *behavioural* (their own tokens). The fused branch
       pools its tokens with :class:`MultiScaleMemoryFusion` (``use_memory_fusion``) or a plain
       mean; each unimodal branch attention-pools its own encoder tokens (no cross-modal
       retrieval, so what it learns from the teacher comes through distillation only).
    3. A :class:`PrototypeBank` per branch gives affinities and C emotion tokens; the fused
       branch's tokens go on to the prediction, the unimodal branches exist for
       :func:`prototype_relation_distillation` (``use_prototype_distillation``; only in training,
       so inference runs the fused branch only).
    4. :class:`CooccurrenceRetrieval` (``use_cooccurrence_retrieval``): emotion tokens query the
       C*K fused prototypes, giving refined tokens and a C x C co-occurrence matrix regularised
       toward ``cooccurrence_target``.
    5. :class:`HierarchicalCompression` (``use_hierarchical_compression``): emotion -> affect
       groups -> global context added back to each emotion token.
    6. Head: ``logit_c = w^T e_c + b_c + gamma * evidence_c (+ v_c^T x)``; output
       ``log_softmax``. ``b`` starts at the centred log of ``label_prior``; the optional linear
       evidence ``v_c^T x`` (``use_linear_evidence``) is penalised by
       ``linear_alpha / 2 * ||V||^2``.

    Regularisation in training: ``input_dropout`` on the standardised features entering the
    token encoder, ``token_dropout`` (whole tokens zeroed), ``dropout`` on the branch
    representations.

    With no behavioural token (or no physiological one) there is a single branch: the
    distillation has no student and adds neither parameters nor loss.

    Parameters
    ----------
    n_features : int
    n_emotions : int
    token_groups : sequence of sequences of int
        Column indices of each token.
    behavioural : sequence of bool
        Whether each token comes from a behavioural modality.
    d_model : int, default=32
    prototypes_per_emotion : int, default=4
    betas : sequence of float, default=(0.5, 2.0, 8.0)
    n_memory : int, default=8
    tau : float, default=0.1
    cooccurrence_beta : float, default=1.0
    affect_groups : array of shape (n_emotions, n_groups) or None
        0/1 membership; None learns ``n_affect_groups`` soft groups.
    n_affect_groups : int, default=2
    use_memory_fusion, use_prototype_distillation, use_cooccurrence_retrieval,
    use_hierarchical_compression : bool, default=True
    lambda_distill, lambda_cooc, lambda_diversity : float
    distill_temperature : float, default=2.0
    cooccurrence_target : array of shape (n_emotions, n_emotions) or None
        Row-stochastic target of the co-occurrence regulariser.
    cooccurrence_prior : bool, default=False
        Initialise a learned bias of the co-occurrence retrieval at ``log cooccurrence_target``
        (see :class:`CooccurrenceRetrieval`).
    dropout : float, default=0.1
    input_dropout : float, default=0.0
        Dropout on the features entering the token encoder (training only).
    token_dropout : float, default=0.0
        Probability of zeroing a whole token (training only; never all tokens of a sample).
    label_prior : array of shape (n_emotions,) or None
        Training mean distribution; initialises the emotion bias to its (centred) log.
    use_linear_evidence : bool, default=False
        Add a linear read-out of the features to the logits.
    linear_alpha : float, default=1.0
        L2 penalty ``alpha / 2 * ||V||^2`` on the linear evidence (an auxiliary loss).
    """

    def __init__(
        self,
        n_features: int,
        n_emotions: int,
        token_groups: Sequence[Sequence[int]],
        behavioural: Sequence[bool] | None = None,
        *,
        d_model: int = 32,
        prototypes_per_emotion: int = 4,
        betas: Sequence[float] = (0.5, 2.0, 8.0),
        n_memory: int = 8,
        tau: float = 0.1,
        cooccurrence_beta: float = 1.0,
        affect_groups=None,
        n_affect_groups: int = 2,
        use_memory_fusion: bool = True,
        use_prototype_distillation: bool = True,
        use_cooccurrence_retrieval: bool = True,
        use_hierarchical_compression: bool = True,
        lambda_distill: float = 0.1,
        lambda_cooc: float = 0.1,
        lambda_diversity: float = 0.01,
        distill_temperature: float = 2.0,
        cooccurrence_target=None,
        cooccurrence_prior: bool = False,
        dropout: float = 0.1,
        input_dropout: float = 0.0,
        token_dropout: float = 0.0,
        label_prior=None,
        use_linear_evidence: bool = False,
        linear_alpha: float = 1.0,
    ):
        super().__init__()
        d, C, K = int(d_model), int(n_emotions), int(prototypes_per_emotion)
        if behavioural is None:
            behavioural = [False] * len(token_groups)
        beh = [i for i, b in enumerate(behavioural) if b]
        phys = [i for i, b in enumerate(behavioural) if not b]
        self.n_emotions = C
        self.tau = float(tau)
        self.lambda_distill = float(lambda_distill)
        self.lambda_cooc = float(lambda_cooc)
        self.lambda_diversity = float(lambda_diversity)
        self.distill_temperature = float(distill_temperature)

        self.encoder = TokenEncoder(token_groups, n_features, d)

        def make_fusion():
            if use_memory_fusion:
                return MultiScaleMemoryFusion(d, betas, n_memory)
            return _MeanPool()

        self.fusion = make_fusion()
        #: names of the unimodal (student) branches, banks 1, 2, ... of ``bank``
        self.student_names: list[str] = []
        masks = []
        if use_prototype_distillation and beh and phys:
            for name, idx in (("physiological", phys), ("behavioural", beh)):
                self.student_names.append(name)
                m = torch.zeros(len(token_groups), dtype=torch.bool)
                m[idx] = True
                masks.append(m)
        n_students = len(self.student_names)
        # bank 0: fused branch (teacher); banks 1..: unimodal students, all in one batched pass
        self.bank = PrototypeBank(C, K, d, tau, n_banks=1 + n_students)
        if n_students:
            self.student_queries = nn.Parameter(torch.zeros(n_students, d))
            self.register_buffer("student_masks", torch.stack(masks))
        else:
            self.student_queries = None
            self.student_masks = None
        self.cooccurrence = (
            CooccurrenceRetrieval(
                d,
                cooccurrence_beta,
                prior=cooccurrence_target if cooccurrence_prior else None,
            )
            if use_cooccurrence_retrieval
            else None
        )
        self.compression = (
            HierarchicalCompression(
                d,
                C,
                n_affect_groups,
                None if affect_groups is None else np.asarray(affect_groups),
            )
            if use_hierarchical_compression
            else None
        )
        self.dropout = nn.Dropout(dropout)
        self.input_dropout = nn.Dropout(input_dropout)
        self.token_dropout = float(token_dropout)
        self.head = nn.Linear(d, 1)
        # linear evidence: a ridge-penalised direct read-out of the features (zero at start)
        self.linear_alpha = float(linear_alpha)
        self.linear = nn.Linear(n_features, C, bias=False) if use_linear_evidence else None
        if self.linear is not None:
            nn.init.zeros_(self.linear.weight)
        # start from the prior: b_c = log mean_i y_ic (centred), so the untrained net predicts
        # the training mean distribution up to the (small) head/evidence terms
        bias = torch.zeros(C)
        if label_prior is not None:
            prior = torch.as_tensor(np.asarray(label_prior), dtype=torch.float32).clamp_min(1e-6)
            bias = torch.log(prior / prior.sum())
            bias = bias - bias.mean()
        self.emotion_bias = nn.Parameter(bias)
        self.evidence_scale = nn.Parameter(torch.ones(()))
        target = (
            None
            if cooccurrence_target is None
            else torch.as_tensor(np.asarray(cooccurrence_target), dtype=torch.float32)
        )
        self.register_buffer("cooccurrence_target", target)
        self._aux: torch.Tensor | None = None

    # ------------------------------------------------------------------------------------
    @property
    def students(self) -> list[str]:
        """Names of the unimodal student branches (empty: no distillation)."""
        return list(self.student_names)

    def fused_prototypes(self) -> torch.Tensor:
        """The fused branch's prototypes, shape (C, K, d)."""
        P = self.bank.prototypes
        return P[0] if P.dim() == 4 else P

    def _student_representations(self, tokens: torch.Tensor) -> torch.Tensor:
        """Masked attention pooling of each student's own tokens: (n_students, batch, d)."""
        scale = tokens.shape[-1] ** -0.5
        logits = torch.einsum("btd,sd->sbt", tokens, self.student_queries) * scale
        logits = logits.masked_fill(~self.student_masks.unsqueeze(1), float("-inf"))
        return torch.einsum("sbt,btd->sbd", softmax_lastdim(logits), tokens)

    def _branches(self, X: torch.Tensor, with_students: bool):
        """Fused-branch bank outputs, and the students' similarities (S, B, C, K) if asked."""
        tokens = self.encoder(self.input_dropout(X) if self.training else X)
        if self.training and self.token_dropout and tokens.shape[1] > 1:
            # token (modality/scale) dropout: zero whole tokens, but never all of a sample's
            keep = torch.rand(tokens.shape[0], tokens.shape[1], 1, device=tokens.device)
            keep = (keep >= self.token_dropout).to(tokens.dtype)
            keep[:, :1] = torch.maximum(keep[:, :1], 1 - keep.amax(1, keepdim=True)[:, :1])
            tokens = tokens * keep
        h, _ = self.fusion(tokens)
        out = self.bank(self.dropout(h), 0)
        if self.student_queries is None or not with_students:
            return out, None
        hs = self.dropout(self._student_representations(tokens))  # (S, B, d)
        P = F.normalize(self.bank.prototypes[1:], dim=-1)
        student_sim = torch.einsum("sbd,sckd->sbck", F.normalize(hs, dim=-1), P)
        return out, student_sim

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (batch, C) of the emotions for standardised features X."""
        out, student_sim = self._branches(X, with_students=self.training)
        E = out["tokens"]
        cooc = None
        if self.cooccurrence is not None:
            E, cooc = self.cooccurrence(E, self.fused_prototypes())
        if self.compression is not None:
            E, _ = self.compression(E)
        logits = self.head(E).squeeze(-1) + self.emotion_bias
        logits = logits + self.evidence_scale * out["evidence"]
        if self.linear is not None:
            logits = logits + self.linear(X)
        if self.training:
            self._aux = self._auxiliary(out["similarity"], student_sim, cooc)
        return torch.log_softmax(logits, dim=-1)

    def _auxiliary(self, teacher_sim, student_sim, cooc) -> torch.Tensor:
        aux = self.lambda_diversity * prototype_diversity_loss(self.bank.prototypes)
        if self.linear is not None and self.linear_alpha:
            aux = aux + 0.5 * self.linear_alpha * self.linear.weight.square().sum()
        if student_sim is not None:
            rel = self.bank.relations()  # (1 + S, CK, CK)
            n_students = student_sim.shape[0]
            aux = aux + self.lambda_distill * n_students * prototype_relation_distillation(
                student_sim,
                teacher_sim.unsqueeze(0).expand_as(student_sim),
                rel[1:],
                rel[:1].expand_as(rel[1:]),
                temperature=self.distill_temperature,
                tau=self.tau,
            )
        if cooc is not None and self.cooccurrence_target is not None and self.lambda_cooc:
            aux = aux + self.lambda_cooc * cooccurrence_loss(cooc, self.cooccurrence_target)
        return aux

    def auxiliary_loss(self) -> torch.Tensor | None:
        """The weighted auxiliary losses of the last training forward pass (then cleared)."""
        aux, self._aux = self._aux, None
        return aux

    @torch.no_grad()
    def cooccurrence_matrix(self, X: torch.Tensor) -> torch.Tensor:
        """Mean C x C co-occurrence over the samples X (rows sum to 1).

        With co-occurrence retrieval on: the pooled retrieval weights of the emotion tokens.
        Off: the fused prototypes' relation matrix, softmax over prototypes and pooled the same
        way (a data-independent stand-in).
        """
        C = self.n_emotions
        if self.cooccurrence is not None:
            out, _ = self._branches(X, with_students=False)
            _, cooc = self.cooccurrence(out["tokens"], self.fused_prototypes())
            return cooc.mean(0)
        R = self.bank.relations()
        R = torch.softmax((R[0] if R.dim() == 3 else R) / self.tau, dim=-1)
        K = R.shape[0] // C
        return R.reshape(C, K, C, K).sum(-1).mean(1)


class StackedMPCLNet(StackedEnsemble):
    """``n_members`` independently initialised :class:`MPCLNet` members trained as one network
    (:class:`~mpcl_sklearn.nn.ensemble.StackedEnsemble`).

    Parameters
    ----------
    n_members : int
        Number of members (>= 1).
    **member_args
        The arguments of every member's :class:`MPCLNet` (its signature is this class's).
    """

    #: rows per pass of the evaluation path (keeps the members' activations in cache)
    inference_chunk = 1024

    def __init__(self, n_members: int = 2, **member_args):
        n_members = int(n_members)
        if n_members < 1:
            raise ValueError(f"n_members must be >= 1, got {n_members}")
        super().__init__([MPCLNet(**member_args) for _ in range(n_members)])
        self._inference_cache = None

    def train(self, mode: bool = True):
        if mode:  # training changes the weights: rebuilt at the next evaluation
            self._inference_cache = None
        return super().train(mode)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Training: members' log-probabilities ``(K, B, C)``; evaluation: log mean ``(B, C)``.

        Evaluation without gradients (``torch.no_grad`` / ``inference_mode``) of shared rows
        runs :func:`~mpcl_sklearn.nn.stacked_inference.members_log_proba`, the same function
        as the vmap pass written as batched operations (much less overhead per call).
        """
        cached = None
        if not self.training and X.dim() == 2 and not torch.is_grad_enabled():
            cached = self._inference_state()
        if cached is None:
            return super().forward(X)
        _, prep, state = cached
        parts = [
            members_log_proba(self._template, state, prep, X[start : start + self.inference_chunk])
            for start in range(0, len(X), self.inference_chunk)
        ]
        return self._log_mean(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))

    def _inference_state(self):
        """``(key, prepared, tensors by name)`` of :func:`prepare_members` for the current
        tensors, cached (None when the vmap pass must run). The key holds the tensors themselves
        with their storage and version counter, so any replacement or in-place change of a
        weight is noticed."""
        key = [(t, t.data_ptr(), t._version) for t in (*self.parameters(), *self.buffers())]
        cached = getattr(self, "_inference_cache", None)
        if cached is None or not _same_tensors(cached[0], key):
            params, buffers = self._state()
            with torch.inference_mode(False), torch.no_grad():
                state = {**params, **buffers}
                cached = (key, prepare_members(self._template, state), state)
            self._inference_cache = cached
        return cached if cached[1] is not None else None

    def __getstate__(self):
        state = dict(super().__getstate__())
        state["_inference_cache"] = None  # a cache: never saved
        return state


def _same_tensors(old: list, new: list) -> bool:
    return len(old) == len(new) and all(
        a is b and pa == pb and va == vb for (a, pa, va), (b, pb, vb) in zip(old, new, strict=True)
    )


def _stacked_signature() -> inspect.Signature:
    """``StackedMPCLNet(n_members, <MPCLNet's parameters>)``: read by the estimators, which
    pass every constructor argument by name (``models._parameters.module_arguments``)."""
    member = list(inspect.signature(MPCLNet.__init__).parameters.values())
    count = inspect.Parameter(
        "n_members", inspect.Parameter.KEYWORD_ONLY, default=2, annotation=int
    )
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in member[1:]]
    return inspect.Signature([member[0], count, *rest])


StackedMPCLNet.__init__.__signature__ = _stacked_signature()
