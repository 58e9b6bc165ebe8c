"""No server-side request forgery through the PACS connection (#17, item 4).

A team admin cannot save an internal address; a stored one (or a name that later resolves to
one) is refused at request time before any connection, in the search, the pull job and proxy
mode; the connection goes to the address that was checked; redirects are not followed; users
see a class of failure, never the remote answer. Name resolution is stubbed and sockets refuse
to connect wherever nothing should leave; the only server reached is a stand-in on loopback.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.urls import reverse

from jobs.models import Job, JobStatus
from jobs.tasks import run_job
from labeling import netpolicy, pacs
from labeling.models import PacsConnection
from tests.labeling.pacs_support import (  # noqa: F401
    dns_fixture,
    fake_pacs_fixture,
    no_connections_fixture,
    start_fake_pacs,
)

INTERNAL = "This address is on a private, loopback or other internal network."
STUDY_JSON = [
    {
        "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
        "00100020": {"vr": "LO", "Value": ["P-1"]},
    }
]


def save(client, url: str, password: str = "", **extra):
    form = {"action": "connection", "name": "PACS", "url": url, "username": "cxr",
            "password": password, **extra}  # fmt: skip
    return client.post(reverse("labeling:pacs"), form)


def error_text(page) -> str:
    found = re.search(r'<p class="error">(.*?)</p>', page.content.decode(), re.S)
    return found.group(1).strip() if found else ""


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8042/dicom-web",
        "http://localhost:6379/",
        "http://[::1]:8042/dicom-web",
        "http://[::ffff:127.0.0.1]:8042/",
        "http://0.0.0.0:8042/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/dicom-web",
        "http://192.168.1.20:8080/",
        "http://[fd00::5]/",
        "http://internal.example.org/dicom-web",  # a name that resolves to a private address
    ],
)
def test_an_admin_cannot_save_an_internal_address(client, personas, dns, no_connections, url):
    dns.set("localhost", ["127.0.0.1", "::1"])
    dns.set("internal.example.org", ["192.168.7.7"])
    client.force_login(personas.owner)
    response = save(client, url, "pw")
    assert response.status_code == 200 and INTERNAL in response.content.decode()
    assert not PacsConnection.objects.exists() and no_connections == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cxr:pw@pacs.example.org/dicom-web", "not in the address"),
        ("http://pacs.example.org@127.0.0.1/dicom-web", "not in the address"),
        ("http://pacs.example.org/dicom-web#top", "must not contain a fragment"),
        ("ftp://pacs.example.org/dicom-web", "Use an http:// or https:// address."),
        ("http://nowhere.example.org/dicom-web", "could not be resolved"),
    ],
)
def test_userinfo_fragments_other_schemes_and_unknown_names_are_refused_on_save(
    client, personas, dns, no_connections, url, message
):
    dns.set("pacs.example.org", ["93.184.216.34"])
    client.force_login(personas.owner)
    response = save(client, url)
    assert response.status_code == 200 and message in response.content.decode()
    assert not PacsConnection.objects.exists() and no_connections == []


def test_a_public_or_listed_address_is_saved_without_connecting(
    client, personas, dns, no_connections, settings
):
    dns.set("pacs.example.org", ["93.184.216.34"])
    dns.set("pacs.hospital.test", ["10.0.0.5"])
    dns.set("ris.hospital.test", ["10.1.2.3"])
    client.force_login(personas.owner)
    assert save(client, "https://pacs.example.org/dicom-web").status_code == 302
    settings.CXR_PACS_ALLOWED_HOSTS = ["pacs.hospital.test", "10.1.0.0/16"]
    assert save(client, "http://pacs.hospital.test:8042/dicom-web").status_code == 302
    assert save(client, "http://ris.hospital.test/dicom-web").status_code == 302
    assert PacsConnection.objects.get().url == "http://ris.hospital.test/dicom-web"
    assert no_connections == []


def test_the_search_refuses_a_stored_internal_address_before_connecting(
    client, personas, dns, no_connections
):
    """A row saved before the policy existed (or by another path) is checked at request time."""
    PacsConnection.objects.create(
        team=personas.team, name="Redis", url="http://127.0.0.1:6379/dicom-web"
    )
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"patient": "X"})
    assert page.status_code == 200 and INTERNAL in error_text(page)
    assert no_connections == []


def test_a_name_that_turns_internal_after_saving_is_refused(client, personas, dns, no_connections):
    dns.set("pacs.example.org", ["93.184.216.34"])
    client.force_login(personas.owner)
    assert save(client, "https://pacs.example.org/dicom-web").status_code == 302
    dns.set("pacs.example.org", ["127.0.0.1"])  # DNS rebinding
    page = client.get(reverse("labeling:pacs"), {"patient": "X"})
    assert INTERNAL in error_text(page) and no_connections == []


def test_a_viewer_cannot_read_an_internal_url_through_proxy_mode(
    client, personas, dns, no_connections
):
    """The finding: a '#' made the appended path a fragment, so /dicomweb/studies fetched the
    stored URL itself. Both the internal address and the fragment are refused."""
    connection = PacsConnection.objects.create(
        team=personas.team, name="x", url="http://127.0.0.1:8500/v1/kv/secret#", proxy=True
    )
    client.force_login(personas.teammate)
    response = client.get("/dicomweb/studies")
    assert response.status_code == 502 and b"fragment" in response.content
    connection.url = "http://169.254.169.254/latest/meta-data"
    connection.save()
    response = client.get("/dicomweb/studies")
    assert response.status_code == 502 and INTERNAL.encode() in response.content
    assert "X-CXR-Proxied" not in response and no_connections == []


def test_the_pull_job_refuses_an_internal_address_with_a_safe_error(
    client, personas, dns, no_connections
):
    connection = PacsConnection.objects.create(
        team=personas.team, name="x", url="http://pacs.example.org/dicom-web"
    )
    dns.set("pacs.example.org", ["10.9.8.7"])
    client.force_login(personas.owner)
    client.post(reverse("labeling:pacs"), {"action": "pull", "study": ["1.2.3"]})
    job = Job.objects.get(kind="pacs_pull")
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "not allowed" in job.error
    assert "10.9.8.7" not in job.error + job.traceback + job.log and no_connections == []
    assert connection.url not in job.error


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(personas, dns, fake_pacs):
    """One lookup per request, made by the policy: urllib3 is handed the address, so a second
    answer (here: none at all) is never asked for."""
    fake_pacs.answer("/dicom-web/studies", 200, b"[]", Content_Type="application/dicom+json")
    dns.set("pacs.test", ["127.0.0.1"])
    connection = PacsConnection(team=personas.team, url=fake_pacs.url("pacs.test"))
    with pacs.session_for(connection) as session:
        dns.set("pacs.test", ["127.0.0.1"], [])  # the second lookup would find nothing
        assert session.get(fake_pacs.url("pacs.test", "/dicom-web/studies")).json() == []
    assert dns.lookups == ["pacs.test"]
    (received,) = fake_pacs.received
    assert received.host == f"pacs.test:{fake_pacs.port}"


def test_tls_checks_the_certificate_against_the_name_not_the_address(
    personas, dns, settings, tmp_path
):
    server, https_pacs = start_fake_pacs(tmp_path, tls_name="pacs.test")
    try:
        https_pacs.answer("/dicom-web/studies", 200, b"[]", Content_Type="application/dicom+json")
        settings.CXR_PACS_ALLOWED_HOSTS = ["127.0.0.0/8"]
        settings.CXR_PACS_CA_BUNDLE = https_pacs.ca_file
        dns.set("pacs.test", ["127.0.0.1"])
        dns.set("impostor.test", ["127.0.0.1"])
        connection = PacsConnection(team=personas.team, url=https_pacs.url("pacs.test"))
        with pacs.session_for(connection) as session:
            good = session.get(https_pacs.url("pacs.test", "/dicom-web/studies"))
            assert good.status_code == 200 and https_pacs.server_names[-1] == "pacs.test"
            with pytest.raises(requests.exceptions.SSLError):
                session.get(https_pacs.url("impostor.test", "/dicom-web/studies"))
        assert [r.path for r in https_pacs.received] == ["/dicom-web/studies"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_not_followed(client, personas, fake_pacs):
    fake_pacs.answer("/dicom-web/studies", 302, Location=fake_pacs.url(path="/elsewhere"))
    PacsConnection.objects.create(team=personas.team, name="x", url=fake_pacs.url(), proxy=True)
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"patient": "X"})
    assert "redirect, which is not followed (HTTP 3xx)" in error_text(page)
    response = client.get("/dicomweb/studies")
    assert response.status_code == 502 and b"HTTP 3xx" in response.content
    assert {r.path for r in fake_pacs.received} == {"/dicom-web/studies"}


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (401, "The PACS refused the request (HTTP 4xx)."),
        (404, "The PACS refused the request (HTTP 4xx)."),
        (500, "The PACS failed to answer the request (HTTP 5xx)."),
    ],
)
def test_search_errors_never_echo_the_remote_answer(client, personas, fake_pacs, status, shown):
    fake_pacs.answer("/dicom-web/studies", status, b"INTERNAL-SECRET-BODY", X_Backend="redis")
    PacsConnection.objects.create(team=personas.team, name="x", url=fake_pacs.url())
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"patient": "X"})
    assert page.status_code == 200 and error_text(page) == shown
    assert b"INTERNAL-SECRET-BODY" not in page.content and b"redis" not in page.content


def test_an_unreachable_port_and_a_non_dicomweb_answer_are_generic(client, personas, fake_pacs):
    connection = PacsConnection.objects.create(
        team=personas.team, name="x", url="http://127.0.0.1:9/dicom-web"
    )
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"patient": "X"})
    assert error_text(page) == "The PACS could not be reached."
    fake_pacs.answer("/dicom-web/studies", 200, b"[1, 2]", Content_Type="application/dicom+json")
    connection.url = fake_pacs.url()
    connection.save()
    page = client.get(reverse("labeling:pacs"), {"patient": "X"})
    assert error_text(page) == "The PACS answered with something that is not DICOMweb."


def test_proxy_mode_passes_errors_as_a_status_class_without_the_body(client, personas, fake_pacs):
    fake_pacs.answer("/dicom-web/studies", 403, b"INTERNAL-SECRET-BODY")
    fake_pacs.answer("/dicom-web/series", 503, b"INTERNAL-SECRET-BODY")
    fake_pacs.answer(
        "/dicom-web/instances", 200, json.dumps(STUDY_JSON).encode(),
        Content_Type="application/dicom+json", Content_Location=fake_pacs.url(),
    )  # fmt: skip
    PacsConnection.objects.create(team=personas.team, name="x", url=fake_pacs.url(), proxy=True)
    client.force_login(personas.teammate)
    refused = client.get("/dicomweb/studies")
    assert (
        refused.status_code == 403
        and refused.content == b"The PACS refused the request (HTTP 4xx).\n"
    )
    failed = client.get("/dicomweb/series")
    assert failed.status_code == 502 and b"INTERNAL-SECRET-BODY" not in failed.content
    answered = client.get("/dicomweb/instances")
    assert answered.status_code == 200 and answered.json() == STUDY_JSON
    assert "Content-Location" not in answered


def test_a_listed_name_reaches_the_pacs_through_the_search(client, personas, dns, fake_pacs):
    fake_pacs.answer(
        "/dicom-web/studies", 200, json.dumps(STUDY_JSON).encode(),
        Content_Type="application/dicom+json",
    )  # fmt: skip
    dns.set("pacs.test", ["127.0.0.1"])
    client.force_login(personas.owner)
    assert save(client, fake_pacs.url("pacs.test"), "s3cret").status_code == 302
    page = client.get(reverse("labeling:pacs"), {"patient": "P-1"}).content.decode()
    assert 'value="1.2.3"' in page
    (received,) = fake_pacs.received
    assert received.authorization.startswith("Basic ")


def test_the_refusal_is_in_the_user_s_language(client, personas, dns, no_connections):
    PacsConnection.objects.create(team=personas.team, name="x", url="http://10.0.0.5/dicom-web")
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"patient": "X"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "不允许使用该 PACS 地址" in error_text(page) and no_connections == []


ROOT = Path(__file__).resolve().parents[2]


def settings_in_a_new_process(tmp_path, **env) -> subprocess.CompletedProcess:
    code = "from django.conf import settings; print(settings.CXR_PACS_ALLOWED_HOSTS)"
    environ = {**os.environ, "DEBUG": "1", "CXR_DATA_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_allow_list_and_key_come_from_the_environment_and_bad_values_stop_the_server(
    tmp_path,
):
    good = settings_in_a_new_process(
        tmp_path, CXR_PACS_ALLOWED_HOSTS="pacs.hospital.org, 10.0.0.0/8,*.ward.example"
    )
    assert good.returncode == 0, good.stderr
    assert (
        good.stdout.strip().splitlines()[-1]
        == "['pacs.hospital.org', '10.0.0.0/8', '*.ward.example']"
    )
    bad_list = settings_in_a_new_process(tmp_path, CXR_PACS_ALLOWED_HOSTS="10.0.0.0/33")
    assert bad_list.returncode != 0
    assert "CXR_PACS_ALLOWED_HOSTS: '10.0.0.0/33' is not a host name" in bad_list.stderr
    short_key = settings_in_a_new_process(tmp_path, CXR_FIELD_ENCRYPTION_KEY="short")
    assert short_key.returncode != 0 and "at least 32 characters" in short_key.stderr


def test_proxy_settings_of_the_environment_are_not_used(client, personas, fake_pacs, monkeypatch):
    """A forward proxy resolves names itself, out of the policy's reach: none is used."""
    fake_pacs.answer("/dicom-web/studies", 200, b"[]", Content_Type="application/dicom+json")
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    PacsConnection.objects.create(team=personas.team, name="x", url=fake_pacs.url())
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:pacs"), {"patient": "X"})
    assert error_text(page) == "" and len(fake_pacs.received) == 1


def test_dimse_peers_get_the_same_answer_from_the_settings(dns, no_connections, settings):
    dns.set("modality.ward", ["192.168.4.7"])
    with pytest.raises(netpolicy.DestinationRefused):
        pacs.check_peer("modality.ward", 104)
    settings.CXR_PACS_ALLOWED_HOSTS = ["192.168.4.0/24"]
    assert pacs.check_peer("modality.ward", 104).address == "192.168.4.7"
    assert no_connections == []
