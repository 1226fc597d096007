"""Where and how a torch network runs: device, seeded random generators, torch threads,
subnormal floats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["denormals_flushed", "flush_denormals", "resolve_device", "seeded", "torch_threads"]


def resolve_device(device) -> torch.device:
    """``device`` ("cpu", "cuda", "cuda:<n>", "mps" or a torch.device) checked and resolved.

    A clear ValueError when the device is not available here: CUDA (or the CUDA device index)
    for ``"cuda"``/``"cuda:<n>"``, Apple's Metal backend for ``"mps"``, anything else.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    kind, _, index = device.partition(":")
    if kind == "cpu" and not index:
        return torch.device("cpu")
    if kind == "cuda" and (not index or index.isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available in this torch "
                f"build ({torch.__version__}) or on this machine; use device='cpu'"
            )
        n = torch.cuda.device_count()
        if index and int(index) >= n:
            raise ValueError(
                f"device={device!r} was requested but this machine has {n} CUDA device(s) "
                f"(cuda:0 to cuda:{n - 1})"
            )
        return torch.device(device)
    if kind == "mps" and (not index or index.isdigit()):
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            why = (
                "this torch build has no MPS support"
                if backend is None or not backend.is_built()
                else "no Apple GPU is available on this machine"
            )
            raise ValueError(
                f"device={device!r} (Apple Metal) was requested but {why} (torch "
                f"{torch.__version__}); use device='cpu'"
            )
        return torch.device(device)
    raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:<n>' or 'mps', got {device!r}")


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Inside the block, torch's CPU generator and, for a CUDA or MPS ``device``, that device's
    generator start from ``seed``; on exit they are restored as they were.

    Only the generators a fit on ``device`` draws from are forked and seeded:
    ``torch.manual_seed`` would also re-seed every CUDA device for good (queued lazily even
    while CUDA is not initialised) and the MPS generator, i.e. change the caller's random
    numbers on devices this fit never uses.
    """
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        with torch.random.fork_rng(devices=[index], device_type="cuda"):
            torch.default_generator.manual_seed(seed)
            torch.cuda.default_generators[index].manual_seed(seed)
            yield
    elif device.type == "mps":
        with torch.random.fork_rng(devices=["mps"], device_type="mps"):
            torch.default_generator.manual_seed(seed)
            torch.mps.manual_seed(seed)
            yield
    else:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield


_SUBNORMAL = np.array([5e-324])  # the smallest positive float64, a subnormal
_ONE = np.ones(1)


def denormals_flushed() -> bool:
    """Whether the calling thread flushes subnormal floats to zero now.

    ``torch.set_flush_denormal`` has no getter: it sets the CPU's flush-to-zero and
    denormals-are-zero flags (x86 MXCSR FTZ/DAZ, ARM FPCR FZ) of the calling thread, which govern
    numpy's arithmetic as much as torch's. With either flag on, ``5e-324 * 1.0`` is 0.
    """
    return bool((_SUBNORMAL * _ONE)[0] == 0.0)


@contextmanager
def flush_denormals() -> Iterator[bool]:
    """Flush subnormal floats to zero inside the block, then restore the previous state.

    Subnormal floats (e.g. Adam moments of tiny gradients) make CPU kernels ~50x slower. Yields
    whether flushing is on in the block (False where the CPU lacks the flags). Nothing is
    changed when the thread already flushes (a caller's own ``torch.set_flush_denormal(True)``
    stays on); otherwise flushing is switched off again on exit, also after an exception or
    Ctrl-C, so that numpy code after ``fit``/``predict`` sees subnormals as before.
    """
    if denormals_flushed():
        yield True
        return
    switched = torch.set_flush_denormal(True)
    try:
        yield switched
    finally:
        if switched:
            torch.set_flush_denormal(False)


class torch_threads:
    """Context manager: set torch's intra-op thread count (None: leave it), restore it on exit."""

    def __init__(self, n: int | None):
        self.n = n
        self.prev = None

    def __enter__(self):
        if self.n is not None:
            self.prev = torch.get_num_threads()
            if self.prev != self.n:
                torch.set_num_threads(int(self.n))
        return self

    def __exit__(self, *exc):
        if self.prev is not None and torch.get_num_threads() != self.prev:
            torch.set_num_threads(self.prev)
        return False
