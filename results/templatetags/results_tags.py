"""Number formats of the results pages (the paper prints rates as percentages, one decimal)."""

import math

from django import template

register = template.Library()
DASH = "—"


def _missing(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


@register.filter
def pct(value) -> str:
    """0.785 -> "78.5"; undefined -> an em dash."""
    return DASH if _missing(value) else f"{float(value) * 100:.1f}"


@register.filter
def num3(value) -> str:
    """0.8812 -> "0.881"; undefined -> an em dash."""
    return DASH if _missing(value) else f"{float(value):.3f}"


@register.filter
def signed(value) -> str:
    """A delta in percentage points or AUC: "+1.2" / "-0.4"; none -> empty."""
    return "" if _missing(value) else f"{float(value) * 100:+.1f}"


@register.filter
def get_item(mapping, key):
    return mapping.get(key, key) if mapping else key


@register.simple_tag
def team_results(team):
    """The results part of the team home (running jobs, latest runs, best run per label...)."""
    from results.summary import team_summary

    return team_summary(team) if team is not None else None


@register.filter
def delta3(value) -> str:
    """An AUC difference: "+0.012"; none -> empty."""
    return "" if _missing(value) else f"{float(value):+.3f}"
