"""Template filters of the training and results pages: task, metric and split names in the UI's
language, and a dictionary lookup for label names (the curation pages' ``name_in``)."""

from django import template

from curation.templatetags.curation_tags import name_in
from training.configs import task_label
from training.display import job_title, metric_name, split_name

register = template.Library()
register.filter("task_label", task_label)
register.filter("metric_name", metric_name)
register.filter("split_name", split_name)
register.filter("name_in", name_in)


register.filter("job_title", job_title)
