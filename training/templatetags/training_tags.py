"""Template filters of the training and results pages: task, metric and split names in the UI's
language, and a dictionary lookup for label names."""

from django import template

from training.configs import task_label
from training.display import job_title, metric_name, split_name

register = template.Library()
register.filter("task_label", task_label)
register.filter("metric_name", metric_name)
register.filter("split_name", split_name)


@register.filter
def name_in(key: str, names: dict) -> str:
    """``{{ key|name_in:names }}``: the name ``names`` gives the key, else the key."""
    return names.get(key, key) if names else key


register.filter("job_title", job_title)
