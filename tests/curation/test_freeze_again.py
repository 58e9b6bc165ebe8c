"""Freezing decisions that have not changed since the latest label set returns that set: no
twin versions with one content hash, even from two freezes at once. Going back to an earlier
mapping (A, B, then A again) is a change, and makes a new version."""

import threading

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from curation import services
from curation.models import AuditEntry, ImageReview, Label, LabelSet
from curation.services import label_sets

from .conftest import cluster_with


def map_to(run, curator, text: str, key: str) -> None:
    cluster = cluster_with(run, text)
    label = Label.objects.get(team=run.team, key=key)
    services.set_verdict(
        run.team, curator, {cluster.pk: cluster.version}, verdict="label", label_id=label.pk
    )


def no_label(run, curator, text: str) -> None:
    cluster = cluster_with(run, text)
    services.set_verdict(run.team, curator, {cluster.pk: cluster.version}, verdict="no_label")


@pytest.fixture
def mapped(small_run, curator):
    map_to(small_run, curator, "主动脉硬化", "aortosclerosis")
    return small_run


def test_freezing_unchanged_decisions_returns_the_latest_set(mapped, curator):
    team = mapped.team
    first, created = services.freeze_or_reuse_label_set(team, curator, note="first")
    again, created_again = services.freeze_or_reuse_label_set(team, curator, note="second")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk and again.note == "first"
    assert list(LabelSet.objects.filter(team=team).values_list("version", flat=True)) == [1]
    assert AuditEntry.objects.filter(team=team, action="freeze").count() == 1
    assert services.freeze_label_set(team, curator).pk == first.pk


def test_a_then_b_then_a_again_makes_a_new_version(mapped, curator):
    team = mapped.team
    a = services.freeze_label_set(team, curator)
    map_to(mapped, curator, "双肺纹理增多", "increased_lung_marking")
    b = services.freeze_label_set(team, curator)
    no_label(mapped, curator, "双肺纹理增多")
    back_to_a = services.freeze_label_set(team, curator)
    assert [a.version, b.version, back_to_a.version] == [1, 2, 3]
    assert back_to_a.content_hash == a.content_hash != b.content_hash


def test_a_reviewed_conflict_is_a_change_even_with_the_same_labels(small_run, curator, corpus):
    # Study 8 says normal and a heart shadow: frozen with the heart shadow, as a conflict that
    # training leaves out. Reviewed to the same labels, the hash stays but training changes.
    map_to(small_run, curator, "心肺膈未见明显异常", "normal")
    map_to(small_run, curator, "心影增大", "increased_heart_shadow")
    before = services.freeze_label_set(corpus.team, curator)
    image = corpus.instances[8].sop_uid
    assert before.images.get(sop_uid=image).conflict
    review = ImageReview.objects.get(instance=corpus.instances[8])
    services.review_image(corpus.team, curator, review.pk, labels=["increased_heart_shadow"],
                          version=review.version)  # fmt: skip
    after, created = services.freeze_or_reuse_label_set(corpus.team, curator)
    assert created and after.version == 2 and after.content_hash == before.content_hash
    assert not after.images.get(sop_uid=image).conflict


def test_the_page_says_nothing_changed_and_shows_the_latest_set(client, mapped, curator):
    client.force_login(curator)
    url = reverse("curation:label-sets")
    first = client.post(url, {"note": "first"}, follow=True)
    again = client.post(url, {"note": "again"}, follow=True)
    label_set = LabelSet.objects.get(team=mapped.team)
    detail = reverse("curation:label-set-detail", args=[label_set.pk])
    assert first.redirect_chain[0][0] == again.redirect_chain[0][0] == detail
    said = [str(message) for message in again.context["messages"]]
    assert said == [f"Nothing changed since label set v1 ({label_set.content_hash[:12]}): "
                    "no new version."]  # fmt: skip


def test_the_api_answers_201_for_a_new_version_and_200_for_the_latest(mapped, curator):
    api = APIClient()
    api.force_authenticate(curator)
    first = api.post("/api/curation/label-sets/", {"note": "v1"}, format="json")
    again = api.post("/api/curation/label-sets/", {"note": "v1 again"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["version"] == 1


def blocked_on_a_lock(backend: int) -> bool:
    """Whether the database session ``backend`` waits for a lock. On PostgreSQL, ask it. SQLite
    takes its write lock at the start of a transaction (BEGIN IMMEDIATE): a second freeze can
    read nothing until the first commits, wherever it waits, so there is nothing to wait for."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [backend])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def until(predicate, what: str, limit: float = 60.0) -> None:
    event = threading.Event()
    for _ in range(int(limit / 0.05)):
        if predicate():
            return
        event.wait(0.05)
    raise AssertionError(f"never saw {what}")


@pytest.mark.django_db(transaction=True)
def test_a_freeze_that_waits_for_another_one_returns_its_set(mapped, curator, monkeypatch):
    """The second freeze reads the decisions only once the first has committed its set: it
    is held (on PostgreSQL, seen waiting for the lock) while the first is mid-freeze."""
    team = mapped.team
    inside, release = threading.Event(), threading.Event()
    read = label_sets.current_vectors
    calls = []

    def first_reads_then_waits(team_):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            inside.set()
            release.wait(60)
        return read(team_)

    monkeypatch.setattr(label_sets, "current_vectors", first_reads_then_waits)
    outcomes, backends = {}, {}

    def freeze(name: str) -> None:
        try:
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    backends[name] = cursor.fetchone()[0]
            outcomes[name] = services.freeze_or_reuse_label_set(team, curator, note=name)
        except Exception as exc:  # noqa: BLE001 - the assertions below show it
            outcomes[name] = exc
        finally:
            connection.close()

    first = threading.Thread(target=freeze, args=("first",), name="first")
    second = threading.Thread(target=freeze, args=("second",), name="second")
    first.start()
    try:
        assert inside.wait(60), "the first freeze never reached its decisions"
        second.start()
        until(lambda: "second" in backends or connection.vendor != "postgresql",
              "the second freeze start")  # fmt: skip
        until(lambda: blocked_on_a_lock(backends.get("second", 0)), "the second freeze wait")
    finally:
        release.set()
        for thread in (first, second):
            if thread.ident is not None:  # started
                thread.join(60)
    (set_1, created_1), (set_2, created_2) = outcomes["first"], outcomes["second"]
    assert (created_1, created_2) == (True, False) and set_1.pk == set_2.pk
    assert calls == ["first", "second"]  # the second read the decisions after the first's set
    assert LabelSet.objects.filter(team=team).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_freezes_at_once_give_one_version(mapped, curator):
    start = threading.Barrier(2)
    outcomes = []

    def freeze() -> None:
        start.wait()
        try:
            outcomes.append(services.freeze_or_reuse_label_set(mapped.team, curator))
        finally:
            connection.close()

    threads = [threading.Thread(target=freeze) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(created for _, created in outcomes) == [False, True]
    assert len({label_set.pk for label_set, _ in outcomes}) == 1
    assert list(LabelSet.objects.filter(team=mapped.team).values_list("version", flat=True)) == [1]
