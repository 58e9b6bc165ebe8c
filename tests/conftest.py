"""Personas shared by every test: an owner and a teammate in one team, an outsider in another."""

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation


def pytest_report_header(config) -> list[str]:
    database = settings.DATABASES["default"]
    broker = settings.CELERY_BROKER_URL.split("@")[-1]
    return [f"cxr-lab: database {database['ENGINE'].rsplit('.', 1)[-1]}, broker {broker}"]


@dataclass
class Personas:
    team: object
    other_team: object
    owner: object
    teammate: object
    outsider: object


@pytest.fixture(scope="session", autouse=True)
def _own_broker_folder(tmp_path_factory):
    """With the filesystem broker, this test run's messages live in a folder of its own.

    Worker processes the tests start are handed ``settings.BROKER_DIR``; without this, two test
    runs on one machine shared ``var/broker`` and their workers took each other's messages (a
    worker claims nothing for a job id its database lacks, so the other run's job stayed queued).
    """
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return
    from lab.celery import app, ensure_broker_folders

    folder = tmp_path_factory.mktemp("broker")
    settings.BROKER_DIR = folder
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key, name in (("data_folder_in", "queue"), ("data_folder_out", "queue"),
                      ("processed_folder", "processed"), ("control_folder", "control")):  # fmt: skip
        options[key] = str(folder / name)
    app.conf.broker_transport_options = options
    ensure_broker_folders()


@pytest.fixture(autouse=True)
def _default_language():
    """A request with Accept-Language: zh leaves Chinese active in this thread; the next test
    (a command, a serializer's message) starts from the default language again."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _data_dirs(settings, tmp_path):
    """Each test gets its own DICOM store, cache and runs folders, and fast password hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DATA_DIR = tmp_path / "var"
    settings.DICOM_STORE_DIR = settings.DATA_DIR / "dicom"
    settings.CACHE_STORE_DIR = settings.DATA_DIR / "cache"
    settings.RUNS_DIR = settings.DATA_DIR / "runs"


@pytest.fixture
def personas(db) -> Personas:
    from teams import services
    from teams.models import Role

    users = get_user_model().objects
    team = services.create_team("Radiology A")
    other_team = services.create_team("Radiology B")
    owner = users.create_user("owner", password="pw-owner-1234")
    teammate = users.create_user("teammate", password="pw-teammate-1234")
    outsider = users.create_user("outsider", password="pw-outsider-1234")
    services.add_member(team, owner, Role.ADMIN)
    services.add_member(team, teammate, Role.VIEWER)
    services.add_member(other_team, outsider, Role.ADMIN)
    return Personas(team, other_team, owner, teammate, outsider)
