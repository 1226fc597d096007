"""Emotion-name constants shared by the loaders.

DMER (Yang et al., 2024) asks 10 PANAS items after each clip; WESAD (Schmidt et al., 2018) asks
the 20 PANAS items (with "Annoyed" in place of PANAS's "Upset") plus Stressed, Frustrated, Happy,
(Angry, Irritated,) Sad. The default label space of every loader in this package is DMER's 10
items, so that models and results carry over between the datasets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: DMER's 10 PANAS items, in DMER's stored order (5 positive, then 5 negative).
DMER_EMOTIONS: tuple[str, ...] = (
    "Inspired",
    "Alert",
    "Excited",
    "Enthusiastic",
    "Determined",
    "Afraid",
    "Upset",
    "Nervous",
    "Scared",
    "Distressed",
)

#: Positive-affect items of :data:`DMER_EMOTIONS`.
POSITIVE_EMOTIONS: tuple[str, ...] = DMER_EMOTIONS[:5]

#: Negative-affect items of :data:`DMER_EMOTIONS`.
NEGATIVE_EMOTIONS: tuple[str, ...] = DMER_EMOTIONS[5:]

#: WESAD's PANAS items asked after *every* condition, in file order (24 items).
WESAD_PANAS_ITEMS: tuple[str, ...] = (
    "Active",
    "Distressed",
    "Interested",
    "Inspired",
    "Annoyed",
    "Strong",
    "Guilty",
    "Scared",
    "Hostile",
    "Excited",
    "Proud",
    "Irritable",
    "Enthusiastic",
    "Ashamed",
    "Alert",
    "Nervous",
    "Determined",
    "Attentive",
    "Jittery",
    "Afraid",
    "Stressed",
    "Frustrated",
    "Happy",
    "Sad",
)

#: WESAD's PANAS row after the stress condition (TSST): 26 items, Angry and Irritated before Sad.
WESAD_PANAS_ITEMS_TSST: tuple[str, ...] = WESAD_PANAS_ITEMS[:23] + ("Angry", "Irritated", "Sad")

#: DMER item name -> WESAD item name, where they differ. WESAD replaced PANAS's "Upset" with
#: "Annoyed"; we map DMER's "Upset" onto it so the two datasets share one label space.
DMER_TO_WESAD: dict[str, str] = {"Upset": "Annoyed"}

#: WESAD's short STAI items (scale 1-4), in file order.
WESAD_STAI_ITEMS: tuple[str, ...] = (
    "at_ease",
    "nervous",
    "jittery",
    "relaxed",
    "worried",
    "pleasant",
)

#: WESAD's SSSQ items (scale 1-5), in file order (asked once, after the stress condition).
WESAD_SSSQ_ITEMS: tuple[str, ...] = (
    "committed_to_goals",
    "wanted_to_succeed",
    "motivated",
    "reflected_about_myself",
    "worried_what_others_think",
    "concerned_about_impression",
)


def select_emotions(
    emotions: str | Sequence[str],
    available: Sequence[str],
    *,
    dataset: str,
    presets: Mapping[str, Sequence[str]] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> list[str]:
    """The label names chosen by a loader's ``emotions=`` argument, checked.

    Parameters
    ----------
    emotions : str or sequence of str
        A preset name (a key of ``presets``) or a list of at least 2 distinct names from
        ``available`` (or keys of ``aliases``), in the order the labels should have.
    available : sequence of str
        The items the dataset rated.
    dataset : str
        Named in error messages.
    presets : dict, optional
        Preset name -> names.
    aliases : dict, optional
        Accepted name -> item of ``available`` it stands for.

    Raises
    ------
    TypeError
        A set (no order) or a non-string name.
    ValueError
        An unknown preset or name, fewer than 2 names, or a name (or item) twice.
    """
    presets = dict(presets or {})
    aliases = dict(aliases or {})
    if isinstance(emotions, str):
        if emotions in presets:
            return list(presets[emotions])
        raise ValueError(
            f"emotions={emotions!r}: use one of {sorted(presets)} or a list of at least 2 "
            f"{dataset} item names from {list(available)}"
        )
    if isinstance(emotions, set | frozenset | Mapping):
        raise TypeError(
            f"emotions must be a list of names in label order, got a {type(emotions).__name__} "
            "(no order)"
        )
    names = list(emotions)
    bad = [e for e in names if not isinstance(e, str)]
    if bad:
        raise TypeError(f"emotions must be names (strings), got {bad}")
    unknown = [e for e in names if e not in available and e not in aliases]
    if unknown:
        alias = f" (or the aliases {sorted(aliases)})" if aliases else ""
        raise ValueError(
            f"unknown {dataset} emotion names {unknown}; valid names are {list(available)}{alias}"
        )
    items = [aliases.get(e, e) for e in names]
    if len(names) < 2 or len(set(items)) != len(items):
        raise ValueError(
            f"emotions must be at least 2 distinct names (label order), got {names}"
            + (" (an alias names the same item twice)" if len(set(names)) == len(names) > 1 else "")
        )
    return names
