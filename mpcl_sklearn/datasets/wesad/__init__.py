"""WESAD (Schmidt et al., ICMI 2018) as an emotion-distribution dataset.

Each of the five protocol conditions (Base, TSST, Fun, Medi 1, Medi 2) of each subject becomes
one trial, labelled with the subject's own PANAS ratings given after that condition, normalised
to a distribution. Signals come from the Empatica E4 wrist export (``SX/SX_E4_Data/`` or
``SX/SX_E4_Data.zip``) or, when present, from the synchronised pickle ``SX/SX.pkl`` (which adds
the RespiBAN chest channels).

The E4 export starts earlier than the chest recorder, whose clock the questionnaire's condition
times use, so a per-subject clock offset is estimated (see :func:`estimate_e4_offset`),
overridable with ``offsets=``, and reported in ``Recordings.info`` and ``Recordings.report``.

Modules, in the order they build on each other:

* :mod:`.release` -- subjects, conditions, label codes, :class:`WESADFormatError`;
* :mod:`.questionnaire` -- ``SX_quest.csv`` (protocol times, PANAS, STAI, SAM, SSSQ) and
  ``SX_readme.txt``;
* :mod:`.e4` -- the E4 export and the clock offset (end heuristic, double tap);
* :mod:`.unpickler` -- the restricted unpickler of ``SX.pkl`` and its signals;
* :mod:`.loader` -- :func:`load_wesad`, which puts them together.
"""

from .e4 import END_MARGIN_S, estimate_e4_offset, find_double_taps, read_e4
from .loader import load_wesad
from .questionnaire import WesadQuest, parse_minutes_seconds, read_wesad_quest, read_wesad_readme
from .release import WESAD_CONDITIONS, WESAD_SUBJECTS, WESADFormatError
from .unpickler import WesadUnpickler, load_wesad_pickle

__all__ = [
    "END_MARGIN_S",
    "WESAD_CONDITIONS",
    "WESAD_SUBJECTS",
    "WESADFormatError",
    "WesadQuest",
    "WesadUnpickler",
    "estimate_e4_offset",
    "find_double_taps",
    "load_wesad",
    "load_wesad_pickle",
    "parse_minutes_seconds",
    "read_e4",
    "read_wesad_quest",
    "read_wesad_readme",
]
