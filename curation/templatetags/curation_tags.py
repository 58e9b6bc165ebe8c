"""Template filters of the curation pages: a label's name in the UI's language, label keys as
names (``{{ keys|label_names:names }}``, ``{{ key|name_in:names }}``) and a clustering
distance's name."""

from django import template

from curation.display import distance_name, label_name

register = template.Library()
register.filter("label_name", label_name)
register.filter("distance_name", distance_name)


@register.filter
def name_in(key: str, names: dict) -> str:
    """``{{ key|name_in:names }}``: the name ``names`` gives the key, else the key."""
    return names.get(key, key) if names else key


@register.filter
def label_names(keys, names: dict) -> str:
    """Keys joined by ", " as the names ``names`` gives them (a key it lacks as it is)."""
    return ", ".join(name_in(key, names) for key in keys or ())
