"""Prototype relation distillation: unimodal branches learn the fused branch's relations."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .functional import log_softmax_bounded

__all__ = ["prototype_relation_distillation"]


def _kl_rows(teacher_logits: torch.Tensor, student_logits: torch.Tensor, T: float, bound):
    if bound is None:
        log_p = F.log_softmax(teacher_logits.detach() / T, dim=-1)
        log_q = F.log_softmax(student_logits / T, dim=-1)
    else:
        log_p = log_softmax_bounded(teacher_logits.detach() / T, bound / T)
        log_q = log_softmax_bounded(student_logits / T, bound / T)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean() * T * T


def prototype_relation_distillation(
    student_similarity: torch.Tensor,
    teacher_similarity: torch.Tensor,
    student_relations: torch.Tensor | None = None,
    teacher_relations: torch.Tensor | None = None,
    temperature: float = 2.0,
    tau: float = 0.1,
    cosine: bool = True,
) -> torch.Tensor:
    """KL distillation of prototype affinities and relations, teacher side detached.

    ``L = T^2 KL(softmax_k(s_t / (tau T)) || softmax_k(s_s / (tau T)))`` averaged over samples and
    emotions, plus the same on the rows of the prototype relation matrices when given.

    Parameters
    ----------
    student_similarity, teacher_similarity : Tensor of shape (batch, C, K)
        Sample-to-prototype similarities of a unimodal (student) and the fused (teacher) branch.
    student_relations, teacher_relations : Tensor of shape (C*K, C*K), optional
        Prototype-to-prototype similarities.
    temperature : float
        Distillation temperature T.
    tau : float
        The prototype banks' affinity temperature.
    cosine : bool, default=True
        The similarities are cosines (<= 1), which allows a cheaper stable softmax; False for
        arbitrary scores.

    Returns
    -------
    Tensor (scalar)
    """
    # similarities are cosines (<= 1): the logits are bounded by 1 / tau
    bound = 1.0 / tau if bool(cosine) else None
    loss = _kl_rows(teacher_similarity / tau, student_similarity / tau, temperature, bound)
    if student_relations is not None and teacher_relations is not None:
        loss = loss + _kl_rows(teacher_relations / tau, student_relations / tau, temperature, bound)
    return loss
