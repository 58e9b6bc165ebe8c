"""Proxy mode: a team whose images stay in its PACS has its DICOMweb reads forwarded there.

The caller has already passed the same authentication and team checks as for local data; the
request goes on with the team's PACS credentials, never the caller's, through the same
destination policy as every PACS request (``labeling.pacs.PinnedAdapter``: checked address
only, no redirects). Bodies are streamed back, except DICOM JSON, whose links (BulkDataURI,
RetrieveURL) are rewritten to point here so the viewer never needs to reach the PACS itself.
An error answer of the PACS is never passed on: the caller gets its status class in words.
"""

from __future__ import annotations

import requests
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from .. import pacs
from ..models import PacsConnection

CHUNK = 256 * 1024
MAX_JSON_BYTES = 64 * 1024 * 1024
PASSED_HEADERS = ("Content-Type", "Content-Length", "Warning")


def forward(request: HttpRequest, connection: PacsConnection, subpath: str) -> HttpResponse:
    upstream_root = connection.url.rstrip("/")
    params = [
        (key, value) for key, values in request.GET.lists() for value in values if key != "team"
    ]
    headers = {"Accept": request.headers.get("Accept", "*/*")}
    try:
        session = pacs.session_for(connection)
        upstream = session.get(
            f"{upstream_root}/{subpath}", params=params, headers=headers, stream=True,
            timeout=(5, 300),
        )  # fmt: skip
    except pacs.PacsError as exc:
        return _text(502, str(exc))
    except pacs.PACS_ERRORS as exc:
        return _text(502, str(pacs.failure(exc)))
    if upstream.status_code >= 400:
        upstream.close()
        status = upstream.status_code if upstream.status_code < 500 else 502
        return _text(status, str(pacs.failure(requests.HTTPError(response=upstream))))
    content_type = upstream.headers.get("Content-Type", "application/octet-stream")
    if content_type.startswith("application/dicom+json"):
        body = upstream.raw.read(MAX_JSON_BYTES + 1, decode_content=True)
        upstream.close()
        if len(body) > MAX_JSON_BYTES:
            return _text(502, "the PACS answer is too large")
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


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
