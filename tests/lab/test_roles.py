"""The README's role table is the rule: ``teams/access.py`` holds the same sets, and every role
is allowed exactly the actions the table gives it, on the pages and the API.

The table is read from README.md ("Access", "Roles"), so the two cannot drift apart: change a
cell there and this test says which code disagrees.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from jobs.models import Job
from teams import access, services
from teams.models import Role
from tests.factories import make_instance, make_study

README = Path(__file__).resolve().parents[2] / "README.md"
YES, NO = "✓", "—"


def role_table() -> tuple[list[str], dict[str, set[str]]]:
    """(the roles of the header, {action: the roles that may do it}) from the README."""
    section = README.read_text(encoding="utf-8").split("### Roles", 1)[1].split("\n### ", 1)[0]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    roles, rows = header[1:], {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        action = re.match(r"\*\*(.+?)\*\*", cells[0]).group(1)
        assert set(cells[1:]) <= {YES, NO}, f"cells of {action!r} are {YES} or {NO}: {cells}"
        rows[action] = {role for role, cell in zip(roles, cells[1:], strict=True) if cell == YES}
    return roles, rows


ROLES, TABLE = role_table()

# The code's side of each row. Reading is membership itself; team settings and members belong
# to the operator (manage.py teams, the Django admin), no team role.
CODE = {
    "read": set(Role.values),
    "Grad-CAM": access.CAN_EXPLAIN,
    "import": access.CAN_IMPORT,
    "curate": access.CAN_CURATE,
    "freeze": access.CAN_FREEZE,
    "train": access.CAN_TRAIN,
    "PACS connection": access.CAN_CONFIGURE_PACS,
    "team settings and members": set(),
}


def test_the_table_has_a_column_for_every_role_and_a_row_for_every_rule():
    assert sorted(ROLES) == sorted(Role.values)
    assert list(TABLE) == list(CODE)


@pytest.mark.parametrize("action", list(TABLE))
def test_teams_access_holds_the_readme_s_sets(action):
    assert set(CODE[action]) == TABLE[action], action


@dataclass
class World:
    team: object
    label: object
    run: Job
    instance: object


@pytest.fixture
def world(personas) -> World:
    from curation.services import vocabulary
    from training.runs import job_folder

    team = personas.team
    run = Job.objects.create(
        team=team, owner=personas.owner, kind="train", status="succeeded",
        metrics={"class_names": ["normal", "abnormal"]},
    )  # fmt: skip
    (job_folder(run) / "run").mkdir(parents=True)
    (job_folder(run) / "run" / "best.pt").write_bytes(b"weights")
    return World(team, vocabulary(team)[0], run, make_instance(make_study(team)))


def _allowed(response) -> bool:
    """403 is the refusal; anything else a member gets (a page, a redirect, a 400 for the empty
    form these probes send) means the role got past the check."""
    assert response.status_code not in (404, 500), response.status_code
    return response.status_code != 403


# One or more requests per action, each answered 403 exactly when the role may not do it.
PROBES: dict[str, list[Callable]] = {
    "read": [
        lambda client, w: client.get(reverse("labeling:study-list")),
        lambda client, w: client.get(reverse("study-list")),
        lambda client, w: client.get(reverse("results:run", kwargs={"pk": w.run.pk})),
    ],
    "Grad-CAM": [
        lambda client, w: client.post(
            reverse(
                "results:heatmap",
                kwargs={"pk": w.run.pk, "instance": w.instance.pk, "label": "no-such-label"},
            )
        ),
    ],
    "import": [
        lambda client, w: client.post(reverse("api-uploads"), {}),
        lambda client, w: client.post(reverse("api-reports-import"), {}),
        lambda client, w: client.post(reverse("labeling:pacs"), {"action": "pull"}),
    ],
    "curate": [
        lambda client, w: client.post(reverse("curation:label-rename", kwargs={"pk": w.label.pk})),
        lambda client, w: client.post(reverse("curation:labels"), {}),
    ],
    "freeze": [
        lambda client, w: client.post(reverse("curation:label-sets"), {"note": ""}),
    ],
    "train": [
        lambda client, w: client.post(reverse("training:launch"), {}),
    ],
    "PACS connection": [
        lambda client, w: client.post(reverse("labeling:pacs"), {"action": "connection"}),
    ],
    "team settings and members": [
        # No page of the app changes a team or its members; the Django admin is for staff only.
        lambda client, w: client.get("/admin/"),
    ],
}


def test_every_rule_has_probes():
    assert set(PROBES) == set(TABLE)


@pytest.mark.parametrize(
    "action, role", [(action, role) for action in TABLE for role in ROLES], ids=str
)
def test_each_role_may_do_what_the_table_says_and_nothing_more(client, world, action, role):
    member = get_user_model().objects.create_user(f"member-{role}")
    services.add_member(world.team, member, role)
    client.force_login(member)
    expected = role in TABLE[action]
    for probe in PROBES[action]:
        response = probe(client, world)
        if action == "team settings and members":
            assert (response.status_code == 200) is expected, (role, response.status_code)
        else:
            assert _allowed(response) is expected, (role, action, response.status_code)
