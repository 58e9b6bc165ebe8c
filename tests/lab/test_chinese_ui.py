"""No English left in the Chinese UI (issue 16, item 6).

A teammate whose session language is zh-hans visits every main page of a team that has data on
each of them: demo studies with reports, a clustering run, a frozen label set, a finished
training run in the registry, a failed job. The visible text of each page (text nodes, and the
attributes a person reads: title, placeholder, aria-label, alt, button values, and the strings
handed to the page's scripts) must hold no English word outside an explicit allow-list of proper
names, units and code identifiers. The API docs page is developer-facing and not visited.

The team's own words (report text, clause texts, cue lists, synonym tables, notes) are data, not
UI: the element holding them carries ``data-user-text`` and is not read, whatever its language.
"""

import json
import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.urls import reverse

from curation import services as curation_services
from jobs import services as job_services
from labeling.models import Study
from tests.results.conftest import binary_run, label_set, single_run  # noqa: F401 (fixtures)

# Proper names, abbreviations and identifiers a Chinese page may show as they are.
ALLOWED = set(
    # product, standards, protocols, file formats
    "CXR DICOM DICOMweb PACS AE AET SCP SCU C-ECHO C-STORE C-FIND C-MOVE WADO WADO-RS WADO-URI "
    "QIDO-RS STOW-RS Orthanc PNG CSV JSON ZIP API REST URL UID SOP IP TCP HTTP HTTPS ID "
    "Markdown md csv json zip dcm txt xlsx DX CR MONOCHROME1 MONOCHROME2 VOI LUT Celery Redis "
    "PostgreSQL Django StudyInstanceUID SOPInstanceUID AccessionNumber PatientID Cohen's kappa "
    # models, hardware, metrics and methods from the paper
    "VGG-16 VGG ResNet-101 ResNet ResNet-18 AlexNet ImageNet Grad-CAM CAM AUC ROC AP PR F1 CI "
    "GPU CPU CUDA AMP SGD Adam k k-medoids FasterPAM PAM BCE NCCL DDP torchrun LR TTA cuda "
    "cpu tiny fp16 bf16 torchvision WebGL Top-3 "
    # keys on the keyboard (the curation pages' shortcuts are letters)
    "Ctrl Shift Esc Enter Tab Alt a i j l n q u x "
    # units
    "px ms s MB GB KB min h "
    # the test's own data (user input, not UI): personas, team and run names
    "owner teammate outsider newcomer test-worker".split()
)
# Proper names and data that are several words (removed before the words are checked).
ALLOWED_PHRASES = ("make run", "Radiology A", "Radiology B", "tiny run")
ALLOWED_LOWER = {word.lower() for word in ALLOWED}
# A word: letters, possibly joined by hyphens, dots or apostrophes (e.g. "don't", "ResNet-101").
WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_]*(?:[-'’.][A-Za-z0-9_]+)*")
# Format placeholders filled in by scripts: %(name)s, {name}.
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "data-confirm")
SKIPPED = {"style", "code", "kbd", "pre", "samp", "var", "svg", "noscript", "template"}


class VisibleText(HTMLParser):
    """Collects what a person reads: text outside code, styles and scripts, some attributes,
    and the string values of JSON handed to scripts (json_script). An element marked
    ``data-user-text`` holds the team's data and is skipped with all it holds."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.stack: list[str] = []
        self.user_text_at: list[int] = []  # depths of the open data-user-text elements
        self.json = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in {"br", "img", "input", "meta", "link", "hr", "source", "wbr", "col"}:
            self.stack.append(tag)
            if "data-user-text" in attrs:
                self.user_text_at.append(len(self.stack))
        self.json = tag == "script" and attrs.get("type") == "application/json"
        if "data-identifier" in attrs or "data-user-text" in attrs or tag in {"meta", "link"}:
            return
        for name in READ_ATTRIBUTES:
            if attrs.get(name):
                self.pieces.append(attrs[name])
        if tag == "input" and attrs.get("type") in {"submit", "button"} and attrs.get("value"):
            self.pieces.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass
            while self.user_text_at and self.user_text_at[-1] > len(self.stack):
                self.user_text_at.pop()

    def handle_data(self, data):
        if self.user_text_at or any(tag in SKIPPED for tag in self.stack):
            return
        if "option" in self.stack and data == "":
            return
        if self.stack and self.stack[-1] == "script":
            if self.json:
                self.pieces.extend(json_strings(json.loads(data)))
            return
        self.pieces.append(data)


def json_strings(value) -> list[str]:
    """String values (never keys) of a JSON document, less URLs and identifiers."""
    if isinstance(value, dict):
        return [s for item in value.values() for s in json_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in json_strings(item)]
    if isinstance(value, str) and not re.fullmatch(r"[\w./:#?=&%-]*", value):
        return [value]
    return []


def is_english(word: str) -> bool:
    """A word a Chinese reader should not meet: not allowed, not an abbreviation or code (all
    capitals, digits, a file name, a hex digest). A snake_case key counts: label and metric
    keys are what a person must never read (code identifiers belong in <code>)."""
    return not (
        word in ALLOWED
        or word.lower() in ALLOWED_LOWER
        or word.isupper()
        or any(c.isdigit() for c in word)
        or "." in word.strip(".")
        or re.fullmatch(r"[0-9a-f]{8,}", word)
    )


def english_runs(html: str) -> list[str]:
    """Pieces of visible text holding an English word a Chinese reader should not meet."""
    parser = VisibleText()
    parser.feed(html)
    return english_pieces(parser.pieces)


def english_pieces(pieces: list[str]) -> list[str]:
    """The pieces of text holding an English word a Chinese reader should not meet."""
    found = []
    for piece in pieces:
        text = PLACEHOLDER.sub(" ", piece)
        for phrase in ALLOWED_PHRASES:
            text = text.replace(phrase, " ")
        if any(is_english(m.group()) for m in WORD.finditer(text)):
            found.append(" ".join(piece.split())[:120])
    return sorted(set(found))


@pytest.fixture
def team_with_data(personas, single_run, binary_run):  # noqa: F811
    """Every main page has something to show: studies, clusters, a frozen label set, a
    finished run (also a model in the registry) and a failed job."""
    curation_services.run_clustering(personas.team, k=12, seed=0, user=personas.owner)
    failed = job_services.create_job(
        personas.team, personas.owner, "train", {"label_set": 0, "engine": {}}, name="tiny run"
    )
    claimed = job_services.claim_job(failed.pk, "test-worker")
    job_services.fail_attempt(claimed.pk, "test-worker", ValueError("no such label set"),
                              retry=False)  # fmt: skip
    failed.refresh_from_db()
    assert failed.status == "failed", failed.status
    return {"run": single_run, "binary": binary_run, "failed": failed}


def main_pages(team, data) -> dict[str, str]:
    from curation.models import ClusterRun

    run, failed = data["run"], data["failed"]
    study = Study.objects.filter(team=team).first()
    assert study and ClusterRun.objects.filter(team=team).exists()
    return {
        "home": reverse("home"),
        "studies": reverse("labeling:study-list"),
        "study": reverse("labeling:study-detail", args=[study.pk]),
        "import": reverse("labeling:upload"),
        "pacs": reverse("labeling:pacs"),
        "listener": reverse("labeling:dicom-listener"),
        "jobs": reverse("training:job-list"),
        "launch": reverse("training:launch"),
        "job": reverse("training:job-detail", args=[run.pk]),
        "failed job": reverse("training:job-detail", args=[failed.pk]),
        "models": reverse("training:model-list"),
        "model": reverse("training:model-detail", args=[run.pk]),
        "results": reverse("results:run-list"),
        "run": reverse("results:run", args=[run.pk]),
        "cases": reverse("results:cases", args=[run.pk]) + "?label=normal&outcome=tp",
        "disagreements": reverse("results:disagreements", args=[run.pk]),
        "compare": reverse("results:compare"),
        "compare two": reverse("results:compare") + f"?runs={run.pk}&runs={data['binary'].pk}",
        "binary run": reverse("results:run", args=[data["binary"].pk]),
    }


def curation_pages(team) -> dict[str, str]:
    """The curation pages, each with something to show (clusters, a frozen label set)."""
    from curation.models import LabelSet, ProposedCluster

    cluster = ProposedCluster.objects.filter(run__team=team, merged_into=None).first()
    label_set = LabelSet.objects.filter(team=team).first()  # noqa: F811
    return {
        "workspace": reverse("curation:workspace"),
        "cluster": reverse("curation:cluster-detail", args=[cluster.pk]),
        "label sets": reverse("curation:label-sets"),
        "label set": reverse("curation:label-set-detail", args=[label_set.pk]),
        "review": reverse("curation:review"),
        "unmapped": reverse("curation:unmapped"),
        "cues": reverse("curation:cues"),
        "cue review": reverse("curation:resplit-review"),
        "distance": reverse("curation:distance"),
        "labels": reverse("curation:labels"),
    }


def chinese_client(client, user):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client


def test_every_main_page_speaks_only_chinese(client, personas, team_with_data):
    chinese_client(client, personas.owner)
    english = {}
    for name, url in main_pages(personas.team, team_with_data).items():
        response = client.get(url)
        assert response.status_code == 200, (name, url, response.content[:300])
        assert 'lang="zh-hans"' in response.content.decode(), name
        if runs := english_runs(response.content.decode()):
            english[name] = runs
    assert not english, json.dumps(english, ensure_ascii=False, indent=1)


def test_every_curation_page_speaks_only_chinese(client, personas, team_with_data):
    """Label names in the UI's language, never "english · 中文" nor keys; cue words, synonyms
    and report text are the team's data (marked ``data-user-text``) and are not checked."""
    chinese_client(client, personas.owner)
    english = {}
    for name, url in curation_pages(personas.team).items():
        response = client.get(url)
        assert response.status_code == 200, (name, url, response.content[:300])
        if runs := english_runs(response.content.decode()):
            english[name] = runs
    assert not english, json.dumps(english, ensure_ascii=False, indent=1)


def test_the_login_page_speaks_only_chinese(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert english_runs(client.get(reverse("login")).content.decode()) == []


def test_the_check_finds_english_where_there_is_some():
    """The detector itself: an untranslated word fails, allowed names and code do not."""
    page = (
        "<p>训练 ResNet-101 完成，AUC 0.91</p><code>increased_lung_marking</code>"
        '<button title="Show overlay">显示</button><td>done</td>'
        '<script type="application/json">{"busy": "Saving…", "url": "/api/runs/"}</script>'
    )
    assert english_runs(page) == ["Saving…", "Show overlay", "done"]
    assert english_runs("<td>increased_lung_marking</td>") == ["increased_lung_marking"]
    user_data = "<p>报告：<span data-user-text>Cardiomegaly <b>with</b> effusion</span> done</p>"
    assert english_runs(user_data) == ["done"]


def test_empty_pages_speak_only_chinese(client, personas):
    """A team with nothing yet: each list page's empty state, in Chinese, with its next step."""
    chinese_client(client, personas.outsider)
    english = {}
    for name in ("home", "labeling:study-list", "training:job-list", "training:model-list",
                 "results:run-list", "results:compare", "labeling:pacs", "training:launch"):  # fmt: skip
        page = client.get(reverse(name)).content.decode()
        if runs := english_runs(page):
            english[name] = runs
    assert not english, json.dumps(english, ensure_ascii=False, indent=1)


def test_a_user_without_a_team_reads_chinese(client, db):
    from django.contrib.auth import get_user_model

    chinese_client(client, get_user_model().objects.create_user("newcomer", password="pw-x-1234"))
    page = client.get(reverse("home")).content.decode()
    assert 'id="no-team"' in page
    assert english_runs(page) == []
