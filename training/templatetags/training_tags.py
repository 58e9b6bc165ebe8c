"""Template filters of the training and results pages."""

from django import template

from training.configs import task_label

register = template.Library()
register.filter("task_label", task_label)
