"""The PACS password: encrypted at rest, plaintext to the ORM and serializers, dropped when the
address moves to another host, and a clear "enter it again" when the key cannot read it."""

import pytest
from django.core import serializers
from django.db import connection as db
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from labeling.fields import Undecryptable
from labeling.models import PacsConnection
from teams.models import Team
from tests.labeling.pacs_support import (  # noqa: F401
    dns_fixture,
    fake_pacs_fixture,
    no_connections_fixture,
)

KEY_A = "a" * 40
KEY_B = "b" * 40
UNREADABLE = "cannot be decrypted with this server&#x27;s key"


def raw_password(pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT password FROM labeling_pacsconnection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def save(client, url: str, password: str = ""):
    form = {"action": "connection", "name": "PACS", "url": url, "username": "cxr",
            "password": password}  # fmt: skip
    return client.post(reverse("labeling:pacs"), form)


@pytest.fixture
def public_names(dns):
    for name in ("pacs.example.org", "other.example.org"):
        dns.set(name, ["93.184.216.34"])
    return dns


def test_the_column_holds_ciphertext_and_python_sees_plaintext(personas, settings):
    settings.CXR_FIELD_ENCRYPTION_KEY = [KEY_A]
    pacs = PacsConnection.objects.create(
        team=personas.team, name="x", url="https://pacs.example.org/", password="s3cret-pw"
    )
    stored = raw_password(pacs.pk)
    assert "s3cret-pw" not in stored and stored.startswith("gAAAAA")  # a Fernet token
    pacs = PacsConnection.objects.get(pk=pacs.pk)
    assert pacs.password == "s3cret-pw"
    assert PacsConnection._meta.get_field("password").value_from_object(pacs) == "s3cret-pw"
    assert '"password": "s3cret-pw"' in serializers.serialize("json", [pacs])
    (restored,) = serializers.deserialize("json", serializers.serialize("json", [pacs]))
    assert restored.object.password == "s3cret-pw"
    pacs.password = "n3w-pw"  # plaintext assigned, encrypted on save
    pacs.save()
    assert "n3w-pw" not in raw_password(pacs.pk) and raw_password(pacs.pk) != stored
    assert PacsConnection.objects.get(pk=pacs.pk).password == "n3w-pw"


def test_an_empty_password_stays_empty(personas):
    pacs = PacsConnection.objects.create(team=personas.team, name="x", url="https://p.example/")
    assert raw_password(pacs.pk) == "" and PacsConnection.objects.get().password == ""


def test_a_form_save_encrypts_and_the_page_never_shows_the_password(client, personas, public_names):
    client.force_login(personas.owner)
    assert save(client, "https://pacs.example.org/dicom-web", "s3cret-pw").status_code == 302
    pacs = PacsConnection.objects.get()
    assert pacs.password == "s3cret-pw" and "s3cret-pw" not in raw_password(pacs.pk)
    assert "s3cret-pw" not in client.get(reverse("labeling:pacs")).content.decode()


def test_the_stored_password_is_kept_for_the_same_host_and_dropped_for_another(
    client, personas, public_names
):
    client.force_login(personas.owner)
    save(client, "https://pacs.example.org/dicom-web", "s3cret-pw")
    save(client, "https://pacs.example.org:443/other-root")  # same scheme, host and port
    assert PacsConnection.objects.get().password == "s3cret-pw"
    response = save(client, "https://other.example.org/dicom-web")
    assert response.status_code == 302
    assert PacsConnection.objects.get().password == ""
    page = client.get(response["Location"]).content.decode()
    assert "the stored password was dropped" in page
    save(client, "https://other.example.org/dicom-web", "other-pw")
    assert PacsConnection.objects.get().password == "other-pw"


@pytest.mark.parametrize(
    "moved", ["http://pacs.example.org/dicom-web", "https://pacs.example.org:8443/dicom-web"]
)
def test_a_new_scheme_or_port_also_drops_the_password(client, personas, public_names, moved):
    client.force_login(personas.owner)
    save(client, "https://pacs.example.org/dicom-web", "s3cret-pw")
    save(client, moved)
    assert PacsConnection.objects.get().password == ""


def test_a_dropped_password_is_not_sent_to_the_new_host(client, personas, dns, fake_pacs):
    """The finding: only the URL changed, and the next search logged in to the new host."""
    fake_pacs.answer("/dicom-web/studies", 200, b"[]", Content_Type="application/dicom+json")
    dns.set("pacs.example.org", ["93.184.216.34"])
    dns.set("collector.test", ["127.0.0.1"])
    client.force_login(personas.owner)
    save(client, "https://pacs.example.org/dicom-web", "s3cret-pw")
    save(client, fake_pacs.url("collector.test"))
    client.get(reverse("labeling:pacs"), {"patient": "X"})
    (received,) = fake_pacs.received
    assert received.authorization in ("", "Basic Y3hyOg==")  # "cxr:" at most, no password


def test_a_password_the_key_cannot_decrypt_asks_to_be_entered_again(
    client, personas, settings, public_names, no_connections
):
    settings.CXR_FIELD_ENCRYPTION_KEY = [KEY_A]
    pacs = PacsConnection.objects.create(
        team=personas.team, name="x", url="https://pacs.example.org/dicom-web",
        password="s3cret-pw", proxy=True,
    )  # fmt: skip
    token = raw_password(pacs.pk)
    settings.CXR_FIELD_ENCRYPTION_KEY = [KEY_B]  # the key was changed
    assert isinstance(PacsConnection.objects.get().password, Undecryptable)
    client.force_login(personas.teammate)
    page = client.get(reverse("labeling:pacs"), {"patient": "X"})
    assert page.status_code == 200 and 'id="pacs-password-unreadable"' in page.content.decode()
    assert "a team admin must enter it again" in page.content.decode()
    proxied = client.get("/dicomweb/studies")
    assert proxied.status_code == 502 and b"enter it again" in proxied.content
    assert no_connections == []

    client.force_login(personas.owner)
    assert UNREADABLE in client.get(reverse("labeling:pacs")).content.decode()  # the form says so
    save(client, "https://pacs.example.org/other")  # same host, empty password: left as it was
    assert raw_password(pacs.pk) == token
    settings.CXR_FIELD_ENCRYPTION_KEY = [KEY_A]  # the old key is back: so is the password
    assert PacsConnection.objects.get().password == "s3cret-pw"
    settings.CXR_FIELD_ENCRYPTION_KEY = [KEY_B]
    save(client, "https://pacs.example.org/other", "entered-again")
    assert PacsConnection.objects.get().password == "entered-again"


def test_keys_rotate_the_first_encrypts_and_every_one_decrypts(personas, settings):
    settings.CXR_FIELD_ENCRYPTION_KEY = [KEY_A]
    pacs = PacsConnection.objects.create(
        team=personas.team, name="x", url="https://p.example/", password="s3cret-pw"
    )
    settings.CXR_FIELD_ENCRYPTION_KEY = [KEY_B, KEY_A]
    pacs = PacsConnection.objects.get()
    assert pacs.password == "s3cret-pw"
    pacs.save()  # saved again: now under the new key
    settings.CXR_FIELD_ENCRYPTION_KEY = [KEY_B]
    assert PacsConnection.objects.get().password == "s3cret-pw"


def test_without_a_key_setting_the_key_comes_from_secret_key_and_its_fallbacks(personas, settings):
    settings.CXR_FIELD_ENCRYPTION_KEY = []
    settings.SECRET_KEY = "old-" + "s" * 50
    PacsConnection.objects.create(
        team=personas.team, name="x", url="https://p.example/", password="s3cret-pw"
    )
    settings.SECRET_KEY = "new-" + "s" * 50
    assert PacsConnection.objects.get().password_unreadable
    settings.SECRET_KEY_FALLBACKS = ["old-" + "s" * 50]
    assert PacsConnection.objects.get().password == "s3cret-pw"


@pytest.fixture
def before_encryption():
    """The database as it was before 0007; migrated to the newest state again afterwards."""
    executor = MigrationExecutor(db)
    executor.migrate([("labeling", "0006_teams_layer")])
    yield
    executor = MigrationExecutor(db)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_passwords_and_its_reverse_decrypts(
    before_encryption, settings
):
    settings.CXR_FIELD_ENCRYPTION_KEY = [KEY_A]
    with db.cursor() as cursor:
        for name, password in (("a", "s3cret-pw"), ("b", "")):
            team = Team.objects.create(name=name, slug=name).pk
            cursor.execute(
                "INSERT INTO labeling_pacsconnection (team_id, name, url, username, password, "
                "proxy, updated_at) VALUES (%s, %s, 'https://p.example/', 'u', %s, false, "
                "CURRENT_TIMESTAMP)",
                [team, name, password],
            )
    MigrationExecutor(db).migrate([("labeling", "0007_pacs_password_encrypted")])
    # only(): the model's later fields (0009 and on) are not in the database at 0007 yet.
    pacs = PacsConnection.objects.only("password").get(name="a")
    assert "s3cret-pw" not in raw_password(pacs.pk) and pacs.password == "s3cret-pw"
    assert raw_password(PacsConnection.objects.only("pk").get(name="b").pk) == ""

    MigrationExecutor(db).migrate([("labeling", "0006_teams_layer")])
    assert raw_password(pacs.pk) == "s3cret-pw"
