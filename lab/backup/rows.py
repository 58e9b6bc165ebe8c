"""One row as JSON and back, through the ORM's own field conversions.

Values are read with ``field.value_from_object`` and written back with ``field.to_python`` on
the target, as Django's serializers do: a field that encrypts at rest (a PACS password) reads
as plaintext here and is encrypted again, with the target's key, when the row is inserted.
Foreign keys travel as the source's ids; the restore translates them (restore.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

_PLAIN = (bool, int, float, str)


def encode(obj: models.Model, fields: Iterable[models.Field]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in fields:
        if field.is_relation:
            out[field.attname] = getattr(obj, field.attname)
            continue
        value = field.value_from_object(obj)
        if value is None or isinstance(field, models.JSONField) or isinstance(value, _PLAIN):
            out[field.attname] = value
        else:  # dates, times, decimals, UUIDs, bytes: the field's own text form
            out[field.attname] = field.value_to_string(obj)
    return out


def decode(fields: dict[str, models.Field], values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for attname, value in values.items():
        field = fields[attname]
        if value is None or field.is_relation or isinstance(field, models.JSONField):
            out[attname] = value
        else:
            out[attname] = field.to_python(value)
    return out


def dumps(pk: int, values: dict[str, Any]) -> bytes:
    return (json.dumps({"pk": pk, "f": values}, cls=DjangoJSONEncoder, ensure_ascii=False)
            + "\n").encode()  # fmt: skip
