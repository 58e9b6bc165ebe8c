"""The API's one pagination: ``?limit=`` (or its alias ``?page_size=``) and ``?offset=``.

Every paginated list under ``/api/`` answers ``{"count", "next", "previous", "results"}``. A
limit above ``MAX_PAGE_SIZE`` is capped to it (the ``next`` link then carries the capped
``limit``); a limit or offset that is not a whole number, or a limit and a page size that
disagree, is a 400 that says so, never a silently different page.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.utils.urls import remove_query_param

MAX_PAGE_SIZE = 1000
PAGE_SIZE_ALIAS = "page_size"


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset pagination with ``page_size`` as another name for ``limit``."""

    max_limit = MAX_PAGE_SIZE
    alias_query_param = PAGE_SIZE_ALIAS

    def get_limit(self, request) -> int | None:
        given = {
            name: request.query_params[name]
            for name in (self.limit_query_param, self.alias_query_param)
            if name in request.query_params
        }
        if not given:
            return self.default_limit
        if len({value.strip() for value in given.values()}) > 1:
            raise ValidationError(
                {self.alias_query_param: [_("limit and page_size differ: give one of them.")]}
            )
        name, raw = next(iter(given.items()))
        limit = _whole_number(name, raw)
        if limit < 1:
            raise ValidationError({name: [_("must be at least 1.")]})
        return min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        offset = _whole_number(self.offset_query_param, raw)
        if offset < 0:
            raise ValidationError({self.offset_query_param: [_("must not be negative.")]})
        return offset

    def get_next_link(self) -> str | None:
        link = super().get_next_link()
        return remove_query_param(link, self.alias_query_param) if link else None

    def get_previous_link(self) -> str | None:
        link = super().get_previous_link()
        return remove_query_param(link, self.alias_query_param) if link else None

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["description"] = _(
                    "Number of results to return per page (at most %(cap)d)."
                ) % {"cap": self.max_limit}
        alias = {
            "name": self.alias_query_param,
            "required": False,
            "in": "query",
            "description": _("Another name for limit."),
            "schema": {"type": "integer"},
        }
        return [*parameters, alias]


def _whole_number(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        message = _("“%(value)s” is not a whole number.") % {"value": raw}
        raise ValidationError({name: [message]}) from None
