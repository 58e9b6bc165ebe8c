"""Proxy mode: a team whose images stay in its PACS has its DICOMweb reads forwarded there.

The caller has already passed the same authentication and team checks as for local data; the
request goes on with the team's PACS credentials, never the caller's. Bodies are streamed back,
except DICOM JSON, whose links (BulkDataURI, RetrieveURL) are rewritten to point here so the
viewer never needs to reach the PACS itself.
"""

from __future__ import annotations

import logging

import requests
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from ..models import PacsConnection
from ..pacs import session_for

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
MAX_JSON_BYTES = 64 * 1024 * 1024
PASSED_HEADERS = ("Content-Type", "Content-Length", "Content-Location", "Warning")


def forward(request: HttpRequest, connection: PacsConnection, subpath: str) -> HttpResponse:
    upstream_root = connection.url.rstrip("/")
    params = [
        (key, value) for key, values in request.GET.lists() for value in values if key != "team"
    ]
    headers = {"Accept": request.headers.get("Accept", "*/*")}
    session = session_for(connection)
    try:
        upstream = session.get(
            f"{upstream_root}/{subpath}", params=params, headers=headers, stream=True,
            timeout=(5, 300),
        )  # fmt: skip
    except requests.RequestException as exc:
        log.warning("PACS %s did not answer: %s", connection.url, exc)
        return HttpResponse(
            f"the team's PACS did not answer: {exc}\n", status=502, content_type="text/plain"
        )
    content_type = upstream.headers.get("Content-Type", "application/octet-stream")
    if content_type.startswith("application/dicom+json"):
        body = upstream.raw.read(MAX_JSON_BYTES + 1, decode_content=True)
        upstream.close()
        if len(body) > MAX_JSON_BYTES:
            return HttpResponse(
                "the PACS answer is too large\n", status=502, content_type="text/plain"
            )
        ours = request.build_absolute_uri("/dicomweb").rstrip("/")
        response = HttpResponse(
            body.replace(upstream_root.encode(), ours.encode()),
            status=upstream.status_code,
            content_type=content_type,
        )
    else:
        response = StreamingHttpResponse(
            upstream.iter_content(CHUNK), status=upstream.status_code, content_type=content_type
        )
        for name in PASSED_HEADERS[1:]:
            if name in upstream.headers:
                response[name] = upstream.headers[name]
    response["X-CXR-Proxied"] = "1"
    return response
