"""Pulling studies from a hospital PACS over DICOMweb (dicomweb-client, not hand-written HTTP).

Search runs in the request (QIDO-RS is quick and bounded by ``limit``); retrieval runs as a job
(kind ``pacs_pull``, in ``labeling/jobs.py``) that fetches one instance at a time (WADO-RS)
and hands each to the same ingest service as every other import.

Every request goes out through :class:`PinnedAdapter`: the destination policy
(``labeling/netpolicy.py``, with the operator's ``CXR_PACS_ALLOWED_HOSTS``) is checked after
name resolution, the connection is made to the checked address only (TLS still verifies the
name), and a redirect is an error. What users see of a failure is a generic class
(:func:`describe`); the details go to the server's log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.util import parse_url

from . import netpolicy
from .models import PacsConnection

log = logging.getLogger("labeling.pacs")
# Refusals and failures in detail (addresses, statuses, errors): for the operator only. Not a
# "labeling" logger, so it never reaches a job's log, which the team reads.
egress_log = logging.getLogger("cxr.egress")
SEARCH_LIMIT = 200
PACS_ERRORS = (requests.RequestException, ValueError)
# An answer that is JSON but not DICOM JSON breaks while it is read.
UNUSABLE_ANSWER = (AttributeError, KeyError, TypeError)


class PacsError(Exception):
    """The PACS could not be used; the message is safe to show to the team."""


class PacsRefused(PacsError):
    """The policy or an unreadable stored password stops it: trying again cannot help."""


class DestinationNotAllowed(requests.RequestException):
    """The policy refused the destination, before any connection was made."""

    def __init__(self, refusal: netpolicy.DestinationRefused, **kwargs) -> None:
        super().__init__(str(refusal), **kwargs)
        self.reason = refusal.reason


class RedirectNotFollowed(requests.RequestException):
    """The PACS answered 3xx: redirects are never followed (they could lead anywhere)."""


@dataclass(frozen=True)
class RemoteStudy:
    study_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    accession_number: str
    modalities: str
    description: str
    instances: int | None


def allowed_hosts() -> netpolicy.AllowList:
    return _allow_list(tuple(settings.CXR_PACS_ALLOWED_HOSTS))


@lru_cache(maxsize=4)
def _allow_list(entries: tuple[str, ...]) -> netpolicy.AllowList:
    return netpolicy.AllowList.parse(entries)


def check_url(url: str) -> netpolicy.Destination:
    """Where ``url`` leads, checked against the policy; raises ``netpolicy.DestinationRefused``."""
    target = netpolicy.parse_url(url)
    return netpolicy.check_destination(target.host, target.port, allowed_hosts())


def check_peer(host: str, port: int) -> netpolicy.Destination:
    """The same rule for a DIMSE peer: associate with ``.address``, never with ``host``."""
    return netpolicy.check_destination(host, port, allowed_hosts())


def refusal_message(reason: str) -> str:
    """What a user is told about a refused address (no resolved address, no detail)."""
    messages = {
        netpolicy.SCHEME: _("Use an http:// or https:// address."),
        netpolicy.USERINFO: _(
            "Put the user name and password in their own fields, not in the address."
        ),
        netpolicy.FRAGMENT: _("The address must not contain a fragment (#…)."),
        netpolicy.UNRESOLVABLE: _("The host name of this address could not be resolved."),
        netpolicy.INTERNAL: _(
            "This address is on a private, loopback or other internal network. The server's "
            "operator must allow it first (CXR_PACS_ALLOWED_HOSTS)."
        ),
    }
    return messages.get(reason, _("This is not a valid PACS address."))


def failure(exc: Exception) -> PacsError:
    """The error to raise for a failed PACS request, logged in detail for the operator."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    egress_log.warning("PACS request failed: %r, HTTP status %s", exc, status)
    refused = isinstance(exc, DestinationNotAllowed | RedirectNotFollowed)
    return (PacsRefused if refused else PacsError)(describe(exc))


def describe(exc: Exception) -> str:
    """A failure in words that are safe to show: a class of problem, never the PACS's answer,
    its status details or connection details (those would make the search a port scanner)."""
    if isinstance(exc, DestinationNotAllowed):
        return _("The PACS address is not allowed: %(reason)s") % {
            "reason": refusal_message(exc.reason)
        }
    if isinstance(exc, RedirectNotFollowed):
        return _("The PACS answered with a redirect, which is not followed (HTTP 3xx).")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, requests.HTTPError) and status is not None and status < 500:
        return _("The PACS refused the request (HTTP 4xx).")
    if isinstance(exc, requests.HTTPError):
        return _("The PACS failed to answer the request (HTTP 5xx).")
    if isinstance(exc, requests.RequestException):
        return _("The PACS could not be reached.")
    return _("The PACS answered with something that is not DICOMweb.")


class PinnedAdapter(HTTPAdapter):
    """Sends a request only to an address the policy accepted, and never follows a redirect.

    The URL's host is resolved once, here; every address is checked; the connection pool is
    made for the first address, with the name kept for the Host header, TLS SNI and the
    certificate check. urllib3 therefore never resolves the name itself, so a DNS answer that
    changes after the check is never used. Forward proxies are not used (they would resolve
    the name themselves).
    """

    def __init__(self, allowed: netpolicy.AllowList, **kwargs) -> None:
        self.allowed = allowed
        super().__init__(**kwargs)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        try:
            netpolicy.parse_url(request.url)
        except netpolicy.DestinationRefused as refusal:
            raise DestinationNotAllowed(refusal, request=request) from None
        request.headers.setdefault("Host", parse_url(request.url).netloc)
        response = super().send(request, stream, timeout, verify, cert, proxies=None)
        if 300 <= response.status_code < 400:
            response.close()
            raise RedirectNotFollowed(
                f"{request.url} answered {response.status_code}", request=request
            )
        return response

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        scheme, host = host_params["scheme"], host_params["host"]
        port = host_params["port"] or netpolicy.SCHEMES[scheme]
        try:
            destination = netpolicy.check_destination(host, port, self.allowed)
        except netpolicy.DestinationRefused as refusal:
            raise DestinationNotAllowed(refusal, request=request) from None
        if scheme == "https" and not netpolicy.is_ip_literal(host):
            pool_kwargs = {**pool_kwargs, "server_hostname": host, "assert_hostname": host}
        return self.poolmanager.connection_from_host(
            scheme=scheme, host=destination.address, port=port, pool_kwargs=pool_kwargs
        )


def session_for(connection: PacsConnection) -> requests.Session:
    """An HTTP session that logs in to the PACS with the team's credentials, through the policy."""
    if connection.password_unreadable:
        raise PacsRefused(
            _(
                "The stored PACS password cannot be decrypted with this server's key: a team "
                "admin must enter it again."
            )
        )
    session = requests.Session()
    session.trust_env = False  # no proxies, .netrc credentials or CA bundle from the environment
    session.verify = settings.CXR_PACS_CA_BUNDLE or True
    adapter = PinnedAdapter(allowed_hosts())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if connection.username:
        session.auth = (connection.username, connection.password)
    return session


def client_for(connection: PacsConnection, *, retry: bool = False) -> DICOMwebClient:
    """``retry``: let dicomweb-client retry failures with back-off (jobs, not page requests)."""
    try:
        check_url(connection.url)  # fail at once; every request is checked again, and pinned
        client = DICOMwebClient(
            connection.url.rstrip("/"), session=session_for(connection), timeout=(5, 60)
        )
    except (netpolicy.DestinationRefused, ValueError) as exc:
        egress_log.warning("PACS address of team %s refused: %s", connection.team_id, exc)
        reason = getattr(exc, "reason", netpolicy.MALFORMED)
        raise PacsRefused(
            _("The PACS address is not allowed: %(reason)s") % {"reason": refusal_message(reason)}
        ) from None
    client.set_http_retry_params(retry=retry)
    return client


def search(
    connection: PacsConnection,
    *,
    patient: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    modality: str = "",
    accession: str = "",
) -> list[RemoteStudy]:
    filters: dict[str, str] = {}
    if patient:
        filters["PatientID"] = patient
    if accession:
        filters["AccessionNumber"] = accession
    if modality:
        filters["ModalitiesInStudy"] = modality
    if date_from or date_to:
        start = date_from.strftime("%Y%m%d") if date_from else ""
        end = date_to.strftime("%Y%m%d") if date_to else ""
        filters["StudyDate"] = f"{start}-{end}"
    fields = ["StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"]
    client = client_for(connection)
    try:
        found = client.search_for_studies(search_filters=filters, limit=SEARCH_LIMIT, fields=fields)
        studies = [_remote_study(item) for item in found]
    except (*PACS_ERRORS, *UNUSABLE_ANSWER) as exc:
        raise failure(exc) from None
    return studies


def probe(connection: PacsConnection) -> None:
    """One small QIDO-RS request (the "test connection" button); raises :class:`PacsError`."""
    client = client_for(connection)
    try:
        client.search_for_studies(limit=1, fields=["StudyInstanceUID"])
    except (*PACS_ERRORS, *UNUSABLE_ANSWER) as exc:
        raise failure(exc) from None


def _remote_study(item: dict) -> RemoteStudy:
    def value(tag: str) -> str:
        values = item.get(tag, {}).get("Value") or [""]
        first = values[0]
        if isinstance(first, dict):  # person names
            return str(first.get("Alphabetic", ""))
        return "\\".join(str(v) for v in values) if tag == "00080061" else str(first)

    count = value("00201208")
    return RemoteStudy(
        study_uid=value("0020000D"),
        patient_id=value("00100020"),
        patient_name=value("00100010"),
        study_date=value("00080020"),
        accession_number=value("00080050"),
        modalities=value("00080061"),
        description=value("00081030"),
        instances=int(count) if count.isdigit() else None,
    )
