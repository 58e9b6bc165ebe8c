"""A refused request is one log line with its reason, not a traceback (a probe's 114 blocks)."""

import logging
import sys

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from lab.logs import ClientErrorsOneLine

PLAIN = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")  # settings.LOGGING


def request_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "django.request"]


@pytest.mark.parametrize("send", ["page", "api"])
def test_a_403_is_one_line_with_its_reason_and_no_traceback(client, personas, caplog, send):
    client.force_login(personas.teammate)  # a viewer: may not launch training or import
    with caplog.at_level(logging.INFO):
        if send == "page":
            response = client.post(reverse("training:launch"), {})
        else:
            api = APIClient()
            api.force_authenticate(personas.teammate)
            response = api.post(reverse("api-uploads"), {})
    assert response.status_code == 403
    (record,) = request_records(caplog)
    line = PLAIN.format(record)
    assert record.exc_info is None and "\n" not in line and "Traceback" not in line
    assert "Forbidden" in line
    if send == "page":
        assert "your role in Radiology A (viewer) cannot do this" in line


def test_a_server_error_keeps_its_traceback():
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", ("/x",),
            sys.exc_info(), extra={"status_code": 500},
        )  # fmt: skip
    assert ClientErrorsOneLine().filter(record)
    assert "Traceback" in PLAIN.format(record) and "RuntimeError: a bug" in PLAIN.format(record)
