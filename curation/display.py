"""Labels and clustering distances as a person reads them: by name in the UI's language, never
by key.

A label comes as a ``Label`` row or as a label set's row (``{"key", "en", "zh"}``); pages show
its name, while ``data-*`` attributes, APIs and exports keep the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils.translation import get_language, pgettext_lazy

DISTANCE_NAMES = {
    "normalized": pgettext_lazy("distance", "normalised"),
    "paper": pgettext_lazy("distance", "the paper's"),
}


def label_name(label) -> str:
    """The label's Chinese name in a Chinese UI, else its English name; the key if unnamed."""
    if isinstance(label, Mapping):
        key, en, zh = label.get("key", ""), label.get("en"), label.get("zh")
    else:
        key, en, zh = label.key, label.name_en, label.name_zh
    chinese = (get_language() or "").startswith("zh")
    return (zh if chinese else en) or en or key


def distance_name(distance: str) -> str:
    """A clustering run's distance option by name (an unknown option as it is)."""
    return str(DISTANCE_NAMES.get(distance, distance))


def names_by_key(labels: Iterable) -> dict[str, str]:
    """Label keys to their names in the UI's language (``Label`` rows or label set rows)."""
    return {
        (label["key"] if isinstance(label, Mapping) else label.key): label_name(label)
        for label in labels
    }
