"""neurokit2 helpers shared by the synthetic generator and the physiological features.

Private and dependency-free, so that ``datasets`` (which simulates signals with neurokit2) does
not import ``features`` (which extracts features with it): nothing imports upward.
"""

from __future__ import annotations


def neurokit_length_error(exc: Exception) -> bool:
    """neurokit2's own argument errors (raised as TypeError, e.g. a smoothing window longer
    than the signal): the frame is unusable, not our bug."""
    return isinstance(exc, TypeError) and str(exc).startswith("NeuroKit error")
