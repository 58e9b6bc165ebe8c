"""Another team's objects are invisible: 404 on every object route, absent from every list."""

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from jobs.models import Job
from teams.tokens import issue_token
from tests.factories import make_instance, make_report, make_study


@dataclass
class World:
    study: object
    instance: object
    team: object
    job: object


@pytest.fixture
def world(personas) -> World:
    study = make_study(personas.team)
    make_report(study, diagnosis="1.双肺纹理增多。2.主动脉硬化。")
    instance = make_instance(study)
    # Something in the other team too, so lists have a row the owner must not see.
    make_instance(make_study(personas.other_team))
    job = Job.objects.create(team=personas.team, owner=personas.owner, kind="train")
    return World(study=study, instance=instance, team=personas.team, job=job)


def _curation(w) -> SimpleNamespace:
    """Curation rows of the world's team (a run, a cluster, a label set, a review), made once."""
    from curation import services as curation
    from curation.models import ClusterRun, ImageReview, LabelSet, ProposedCluster

    if not hasattr(w, "curation"):
        cluster_job = Job.objects.create(team=w.team, kind="cluster", status="succeeded")
        run = ClusterRun.objects.create(team=w.team, k=1, job=cluster_job)  # its job's status
        text = "主动脉硬化"
        w.curation = SimpleNamespace(
            label=curation.vocabulary(w.team)[0],
            run=run,
            cluster=ProposedCluster.objects.create(
                team=w.team, run=run, polarity="affirmed", medoid_text=text,
                medoid_normalized=text, name=text,
            ),
            label_set=LabelSet.objects.create(
                team=w.team, version=1, content_hash="0" * 64, labels=[]
            ),
            review=ImageReview.objects.create(team=w.team, instance=w.instance, proposed=[]),
        )  # fmt: skip
    return w.curation


def _trained(w) -> Job:
    """The world's job as a finished training run with weights on disk (the registry's routes
    serve only those), made once."""
    from training.runs import job_folder

    if w.job.status != "succeeded":
        Job.objects.filter(pk=w.job.pk).update(status="succeeded", metrics={"task": "x"})
        w.job.refresh_from_db()
        run = job_folder(w.job) / "run"
        run.mkdir(parents=True, exist_ok=True)
        (run / "best.pt").write_bytes(b"weights")
    return w.job


def _explained(w) -> Job:
    """The trained run with the class names a Grad-CAM overlay route checks its label against."""
    job = _trained(w)
    if "class_names" not in job.metrics:
        job.metrics = {**job.metrics, "class_names": ["normal", "abnormal"]}
        job.save(update_fields=["metrics"])
    return job


def _pacs(w):
    """A PACS connection of the world's team; its name, not a real host, which no test reaches
    (``.invalid`` never resolves, so a member's test of it fails at once and says so)."""
    from labeling.models import PacsConnection

    connection, _ = PacsConnection.objects.get_or_create(
        team=w.team, defaults={"name": "PACS", "url": "https://pacs.invalid/dicom-web"}
    )
    return connection


# Every named route that takes an object key, with how to fill it from the world.
OBJECT_ROUTES = {
    "labeling:study-detail": lambda w: {"pk": w.study.pk},
    "labeling:instance-thumbnail": lambda w: {"pk": w.instance.pk},
    "labeling:pacs-test": lambda w: {"pk": _pacs(w).pk},
    "study-detail": lambda w: {"pk": w.study.pk},
    "instance-detail": lambda w: {"pk": w.instance.pk},
    "team-detail": lambda w: {"pk": w.team.pk},
    "curation:cluster-detail": lambda w: {"pk": _curation(w).cluster.pk},
    "curation:label-set-detail": lambda w: {"pk": _curation(w).label_set.pk},
    "curation:label-rename": lambda w: {"pk": _curation(w).label.pk},
    "curation:label-move": lambda w: {"pk": _curation(w).label.pk},
    "curation:label-delete": lambda w: {"pk": _curation(w).label.pk},
    "curation-run-detail": lambda w: {"pk": _curation(w).run.pk},
    "curation-cluster-detail": lambda w: {"pk": _curation(w).cluster.pk},
    "curation-label-detail": lambda w: {"pk": _curation(w).label.pk},
    "curation-label-set-detail": lambda w: {"pk": _curation(w).label_set.pk},
    "curation-label-set-compare": lambda w: {"pk": _curation(w).label_set.pk},
    "curation-review-detail": lambda w: {"pk": _curation(w).review.pk},
    "job-detail": lambda w: {"pk": w.job.pk},
    "job-cancel": lambda w: {"pk": w.job.pk},
    "job-retry": lambda w: {"pk": w.job.pk},
    "job-predictions": lambda w: {"pk": w.job.pk},
    "job-card": lambda w: {"pk": _trained(w).pk},
    "job-weights": lambda w: {"pk": _trained(w).pk},
    "job-mark-current": lambda w: {"pk": _trained(w).pk},
    "training:model-detail": lambda w: {"pk": _trained(w).pk},
    "training:model-edit": lambda w: {"pk": _trained(w).pk},
    "training:model-current": lambda w: {"pk": _trained(w).pk},
    "training:model-evaluate": lambda w: {"pk": _trained(w).pk},
    "training:model-predict": lambda w: {"pk": _trained(w).pk},
    "training:model-weights": lambda w: {"pk": _trained(w).pk},
    "training:model-card-markdown": lambda w: {"pk": _trained(w).pk},
    "training:job-detail": lambda w: {"pk": w.job.pk},
    "training:job-cancel": lambda w: {"pk": w.job.pk},
    "training:job-retry": lambda w: {"pk": w.job.pk},
    "results:run": lambda w: {"pk": w.job.pk},
    "run-detail": lambda w: {"pk": w.job.pk},
    "run-predictions": lambda w: {"pk": w.job.pk},
    "model-detail": lambda w: {"pk": _trained(w).pk},
    "results:cases": lambda w: {"pk": w.job.pk},
    "results:heatmap": lambda w: {
        "pk": _explained(w).pk,
        "instance": w.instance.pk,
        "label": "abnormal",
    },
    "results:disagreements": lambda w: {"pk": w.job.pk},
    "results:disagreements-review": lambda w: {"pk": w.job.pk},
    "results:model-card-markdown": lambda w: {"pk": w.job.pk},
    "results:model-card-json": lambda w: {"pk": w.job.pk},
    "results:metrics-json": lambda w: {"pk": w.job.pk},
    "results:metrics-csv": lambda w: {"pk": w.job.pk},
    "results:predictions-csv": lambda w: {"pk": w.job.pk},
}


# Routes that change state answer POST only; members reach them (200, or 403 for a role that
# may not act), outsiders get 404 like everywhere else.
POST_ROUTES = {
    "job-cancel", "job-retry", "training:job-cancel", "training:job-retry",
    "curation:label-rename", "curation:label-move", "curation:label-delete",
    "job-mark-current", "training:model-edit", "training:model-current",
    "training:model-evaluate", "training:model-predict",
    "results:disagreements-review", "labeling:pacs-test",
}  # fmt: skip


def fetch(client, route: str, world: World):
    url = reverse(route, kwargs=OBJECT_ROUTES[route](world))
    return client.post(url) if route in POST_ROUTES else client.get(url)


def _named_routes_with_arguments(resolver: URLResolver, prefix: str = "") -> set[str]:
    names = set()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # staff-only, guarded by Django's admin itself
            if entry.namespace == "dicomweb":
                continue  # UID routes: tests/labeling/test_dicomweb_access.py lists every one
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            names |= _named_routes_with_arguments(entry, namespace)
        elif isinstance(entry, URLPattern) and entry.name and entry.pattern.regex.groups:
            if "format" not in entry.pattern.regex.groupindex:
                names.add(prefix + entry.name)
    return names


def test_every_object_route_is_listed_here():
    unlisted = _named_routes_with_arguments(get_resolver()) - set(OBJECT_ROUTES)
    assert not unlisted, f"add these routes to OBJECT_ROUTES: {sorted(unlisted)}"


@pytest.mark.parametrize("route", sorted(OBJECT_ROUTES))
def test_outsider_gets_404_for_every_object_route(client, personas, world, route):
    client.force_login(personas.outsider)
    assert fetch(client, route, world).status_code == 404


@pytest.mark.parametrize("route", sorted(OBJECT_ROUTES))
def test_owner_and_teammate_reach_every_object_route(client, personas, world, route):
    for user in (personas.teammate, personas.owner):
        client.force_login(user)
        expected = {200, 302, 403, 409} if route in POST_ROUTES else {200}
        assert fetch(client, route, world).status_code in expected, (user, route)


# DRF routes are the un-namespaced ones; namespaced routes are pages (session only).
API_ROUTES = sorted(route for route in OBJECT_ROUTES if ":" not in route)


@pytest.mark.parametrize("route", API_ROUTES)
def test_outsider_gets_404_with_a_token_too(personas, world, route):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(personas.outsider)}")
    assert fetch(api, route, world).status_code == 404


def test_api_lists_hold_only_the_callers_teams(personas, world):
    api = APIClient()
    api.force_authenticate(personas.outsider)
    studies = api.get(reverse("study-list")).json()["results"]
    instances = api.get(reverse("instance-list")).json()["results"]
    teams = api.get(reverse("team-list")).json()["results"]
    assert world.study.study_uid not in {s["study_uid"] for s in studies}
    assert world.instance.sop_uid not in {i["sop_uid"] for i in instances}
    assert [t["name"] for t in teams] == ["Radiology B"]
    assert len(studies) == 1 and studies[0]["team"] == "radiology-b"


def test_teammate_lists_show_the_team_with_its_report(personas, world):
    api = APIClient()
    api.force_authenticate(personas.teammate)
    studies = api.get(reverse("study-list")).json()["results"]
    assert [s["study_uid"] for s in studies] == [world.study.study_uid]
    assert studies[0]["report"]["diagnosis"] == "1.双肺纹理增多。2.主动脉硬化。"
    assert studies[0]["instance_count"] == 1


def test_html_study_list_shows_only_the_active_team(client, personas, world):
    client.force_login(personas.outsider)
    page = client.get(reverse("labeling:study-list")).content.decode()
    assert world.study.accession_number not in page


def test_anonymous_is_sent_to_login_and_api_refuses(client, world):
    response = client.get(reverse("labeling:study-detail", kwargs={"pk": world.study.pk}))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert APIClient().get(reverse("study-list")).status_code in {401, 403}


def test_malformed_ids_are_404_not_500(client, personas):
    client.force_login(personas.owner)
    assert client.get("/api/studies/not-a-number/").status_code == 404


def test_switching_to_a_team_you_are_not_in_is_404(client, personas):
    client.force_login(personas.outsider)
    response = client.post(reverse("switch-team"), {"team": personas.team.pk})
    assert response.status_code == 404


def test_a_user_in_two_teams_switches_between_them(client, personas, world):
    from teams import services

    services.add_member(personas.other_team, personas.owner, "viewer")
    client.force_login(personas.owner)
    assert (
        world.study.accession_number in client.get(reverse("labeling:study-list")).content.decode()
    )
    response = client.post(
        reverse("switch-team"), {"team": personas.other_team.pk, "next": "/studies/"}
    )
    assert response.status_code == 302 and response["Location"] == "/studies/"
    page = client.get(reverse("labeling:study-list")).content.decode()
    assert world.study.accession_number not in page


def test_switch_ignores_an_offsite_next(client, personas):
    client.force_login(personas.owner)
    response = client.post(
        reverse("switch-team"), {"team": personas.team.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")
