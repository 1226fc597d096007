"""Several copies of a network trained as one: stacked parameters evaluated with torch.func.vmap."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

__all__ = ["StackedEnsemble"]


def _key(name: str) -> str:
    return name.replace(".", ":")


class _Method(nn.Module):
    """Calls one method of a wrapped module as ``forward`` (so functional_call can run it)."""

    def __init__(self, module: nn.Module, name: str):
        super().__init__()
        self.module = module
        self.name = name

    def forward(self, *args):
        return getattr(self.module, self.name)(*args)


class StackedEnsemble(nn.Module):
    """``K`` independently initialised members of one architecture, run as one batched network.

    The members' parameters are stacked along a leading axis (``torch.func.stack_module_state``)
    and every forward pass maps the member network over that axis with ``torch.func.vmap``
    (independent dropout per member), so the ``K`` members train in one optimiser step: on a CPU
    the cost of a step grows much less than ``K``-fold because each operation runs once on
    ``K``-times larger tensors instead of ``K`` times.

    Inputs are ``(batch, n_features)`` (every member sees the same rows) or ``(K, batch,
    n_features)`` (member ``k`` gets ``X[k]``). In training, ``forward`` returns the members'
    log-probabilities ``(K, batch, C)`` and
    :meth:`auxiliary_loss` the sum of the members' auxiliary losses. In evaluation it returns
    the log of the members' mean probability ``(batch, C)``; :meth:`member_log_proba` gives the
    members' own predictions.

    Parameters
    ----------
    members : sequence of nn.Module
        Modules of identical structure (e.g. built one after another under one seed). Their
        ``forward(X)`` returns log-probabilities; an optional ``auxiliary_loss()`` returns the
        scalar auxiliary loss of the last training pass (or None).
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("StackedEnsemble needs at least one member")
        params, buffers = stack_module_state(members)
        self.n_members = len(members)
        self._param_names = list(params)
        self._buffer_names = list(buffers)
        # the template holds no data: every tensor is supplied by functional_call
        template = copy.deepcopy(members[0]).to("meta")
        self.__dict__["_template"] = template  # not a registered submodule
        self.stacked = nn.ParameterDict({_key(n): nn.Parameter(v) for n, v in params.items()})
        for n, v in buffers.items():
            self.register_buffer("buffer:" + _key(n), v)
        self._aux: torch.Tensor | None = None

    @property
    def template(self) -> nn.Module:
        """The member architecture (its tensors are placeholders on the ``meta`` device: use it
        for structure, e.g. ``template.students``, not for computing)."""
        return self._template

    def train(self, mode: bool = True):
        super().train(mode)
        self._template.train(mode)
        return self

    def _state(self):
        params = {n: self.stacked[_key(n)] for n in self._param_names}
        buffers = {n: getattr(self, "buffer:" + _key(n)) for n in self._buffer_names}
        return params, buffers

    def _map(self, module: nn.Module, X: torch.Tensor, prefix: str = "", with_aux: bool = False):
        params, buffers = self._state()
        if prefix:
            params = {prefix + n: v for n, v in params.items()}
            buffers = {prefix + n: v for n, v in buffers.items()}
        template = self._template

        def one(p, b, x):
            out = functional_call(module, (p, b), (x,))
            if not with_aux:
                return out, x.new_zeros(())
            aux_fn = getattr(template, "auxiliary_loss", None)
            aux = aux_fn() if aux_fn is not None else None
            return out, (x.new_zeros(()) if aux is None else aux)

        # X of shape (K, batch, n_features): each member its own rows; (batch, ...): shared
        x_dim = 0 if X.dim() == 3 else None
        return vmap(one, in_dims=(0, 0, x_dim), randomness="different")(params, buffers, X)

    def member_log_proba(self, X: torch.Tensor) -> torch.Tensor:
        """Every member's output for ``X``: shape ``(K, batch, C)``."""
        out, aux = self._map(self._template, X, with_aux=self.training)
        if self.training:
            self._aux = aux.sum()
        return out

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Training: members' log-probabilities ``(K, B, C)``; evaluation: log mean ``(B, C)``."""
        out = self.member_log_proba(X)
        return out if self.training else self._log_mean(out)

    def _log_mean(self, member_log_proba: torch.Tensor) -> torch.Tensor:
        """Log of the members' mean probability from their log-probabilities ``(K, B, C)``."""
        n = member_log_proba.new_tensor(float(self.n_members))
        return torch.logsumexp(member_log_proba, dim=0) - torch.log(n)

    def auxiliary_loss(self) -> torch.Tensor | None:
        """Sum of the members' auxiliary losses of the last training pass (then cleared)."""
        aux, self._aux = self._aux, None
        return aux

    def call_members(self, method: str, X: torch.Tensor) -> torch.Tensor:
        """Run ``member.<method>(X)`` for every member (stacked on a leading axis)."""
        wrapper = _Method(self._template, method)
        out, _ = self._map(wrapper, X, prefix="module.")
        return out
