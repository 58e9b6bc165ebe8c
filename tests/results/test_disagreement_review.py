"""The model points back at the labels: a curator sends a run's confident disagreements to the
curation review queue, corrects an image there with the model's evidence in view, and the
correction is in the next frozen label set. Viewers see the list but cannot send it."""

import json

from django.urls import reverse

from curation import services as curation
from curation.models import ImageReview

from .pages import elements_with

CONFIDENCE = "0.5"  # the tiny model disagrees often enough at this confidence


def listed(client, job) -> list[dict]:
    """The disagreements page's rows: image, label and the checkbox a curator ticks."""
    html = client.get(reverse("results:disagreements", args=[job.pk]),
                      {"confidence": CONFIDENCE}).content.decode()  # fmt: skip
    return [attrs for _tag, attrs in elements_with(html, "data-label") if "data-image-id" in attrs]


def send(client, job, **data):
    return client.post(reverse("results:disagreements-review", args=[job.pk]),
                       {"confidence": CONFIDENCE, **data})  # fmt: skip


def test_a_curator_sends_disagreements_and_the_correction_reaches_the_next_label_set(
    client, personas, single_run, label_set
):
    client.force_login(personas.owner)  # an admin: may curate
    rows = listed(client, single_run)
    assert rows, "the tiny run should disagree with some test image at 0.5"
    first = rows[0]
    # One ticked row: one review, with that row's evidence only.
    response = send(client, single_run, scope="selected",
                    item=[f"{first['data-image-id']}|{first['data-label']}"])  # fmt: skip
    assert response.status_code == 302
    review = ImageReview.objects.get(team=personas.team)
    assert review.instance.sop_uid == first["data-image-id"]
    assert review.reason == "model disagreement" and review.status == "pending"
    assert [(e["run"], e["label"]) for e in review.evidence] == [
        (single_run.pk, first["data-label"])]  # fmt: skip

    # All of them: one review per image, one evidence entry per listed (image, label).
    page = client.get(send(client, single_run, scope="all")["Location"]).content.decode()
    reviews = ImageReview.objects.filter(team=personas.team)
    assert {r.instance.sop_uid for r in reviews} == {row["data-image-id"] for row in rows}
    evidence = {(r.instance.sop_uid, e["label"]) for r in reviews for e in r.evidence}
    assert evidence == {(row["data-image-id"], row["data-label"]) for row in rows}
    assert sum(len(r.evidence) for r in reviews) == len(rows)
    assert "Review queue:" in page
    # Sending again is a no-op.
    versions = dict(reviews.values_list("pk", "version"))
    send(client, single_run, scope="all")
    assert dict(ImageReview.objects.filter(team=personas.team).values_list("pk", "version")) == (
        versions)  # fmt: skip

    # The review page shows the model's evidence next to the image.
    queue = client.get(reverse("curation:review")).content.decode()
    shown = {(a["data-run"], a["data-label"], a["data-kind"])
             for _t, a in elements_with(queue, "data-kind")}  # fmt: skip
    assert (str(single_run.pk), first["data-label"], review.evidence[0]["kind"]) in shown
    assert f'id="review-{review.pk}"' in queue

    # The curator corrects the first image: the disputed label flipped.
    review.refresh_from_db()
    label = first["data-label"]
    # (A missed only label leaves nothing: the image is then another label, as curators would.)
    corrected = sorted(set(review.proposed) ^ {label}) or [
        "normal" if label != "normal" else "increased_lung_marking"]  # fmt: skip
    put = client.put(reverse("curation-review-detail", args=[review.pk]),
                     json.dumps({"labels": corrected, "version": review.version}),
                     content_type="application/json")  # fmt: skip
    assert put.status_code == 200 and put.json()["status"] == "corrected"
    assert put.json()["evidence"][0]["run"] == single_run.pk

    # Freezing the next label set picks the correction up.
    uid = first["data-image-id"]
    before = label_set.images.get(sop_uid=uid).labels
    frozen = curation.freeze_label_set(personas.team, personas.owner, note="after review")
    order = [row["key"] for row in frozen.labels]
    assert frozen.images.get(sop_uid=uid).labels == sorted(corrected, key=order.index)
    assert frozen.images.get(sop_uid=uid).labels != before


def test_a_viewer_sees_the_list_but_cannot_send_it(client, personas, single_run):
    client.force_login(personas.teammate)  # a viewer
    html = client.get(reverse("results:disagreements", args=[single_run.pk]),
                      {"confidence": CONFIDENCE}).content.decode()  # fmt: skip
    assert 'data-image-id="' in html
    assert 'id="send-to-review"' not in html and 'name="item"' not in html
    assert send(client, single_run, scope="all").status_code == 403
    assert not ImageReview.objects.exists()


def test_another_team_s_run_is_404_to_send(client, personas, single_run):
    client.force_login(personas.outsider)
    assert send(client, single_run, scope="all").status_code == 404
    assert not ImageReview.objects.exists()


def test_bad_sends_change_nothing(client, personas, single_run):
    client.force_login(personas.owner)
    nothing = send(client, single_run, scope="selected")
    assert nothing.status_code == 302
    assert "Nothing was sent" in client.get(nothing["Location"]).content.decode()
    unknown = send(client, single_run, scope="selected", item=["1.2.3|normal", "garbage"])
    assert unknown.status_code == 302
    bad = client.post(reverse("results:disagreements-review", args=[single_run.pk]),
                      {"confidence": "2", "scope": "all"})  # fmt: skip
    assert bad.status_code == 400 and b"confidence" in bad.content
    assert client.get(reverse("results:disagreements-review", args=[single_run.pk])
                      ).status_code == 405  # fmt: skip
    assert not ImageReview.objects.exists()
