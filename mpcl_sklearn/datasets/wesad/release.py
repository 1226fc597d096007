"""What the public WESAD release holds: its subjects, conditions and label codes.

Shared by the questionnaire parser, the E4 reader, the pickle reader and the loader, so it sits
below all of them; :class:`WESADFormatError` is the error every one of them raises.
"""

from __future__ import annotations

#: The 15 subjects of the public release (S1 and S12 were discarded by the authors).
WESAD_SUBJECTS: tuple[str, ...] = tuple(
    f"S{i}" for i in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17)
)

#: The five labelled conditions, as spelled in ``# ORDER``.
WESAD_CONDITIONS: tuple[str, ...] = ("Base", "TSST", "Fun", "Medi 1", "Medi 2")

#: Condition -> (readable name, code in the pickle's 700 Hz ``label`` array).
CONDITION_INFO: dict[str, tuple[str, int]] = {
    "Base": ("baseline", 1),
    "TSST": ("stress", 2),
    "Fun": ("amusement", 3),
    "Medi 1": ("meditation", 4),
    "Medi 2": ("meditation", 4),
}


class WESADFormatError(ValueError):
    """A WESAD file is missing or malformed; the message names the file (and line)."""
