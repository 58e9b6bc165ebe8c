"""A run's confident disagreements in the review queue: one review per image, evidence added
once, a decided image reopened with its decision still in force, corrections frozen next."""

# The fixture shared with test_label_sets is imported by name; pytest, not the code, uses it.
# ruff: noqa: F401, F811

from curation import services
from curation.models import AuditEntry, ImageReview
from curation.services import Disagreement

from .test_label_sets import curated  # fixture: four clusters mapped to labels


def send(team, user, found, run_id=7):
    return services.queue_model_disagreements(team, user, run_id=run_id, run_name="tiny run",
                                              found=found)  # fmt: skip


def test_a_new_image_gets_a_pending_review_proposing_its_current_labels(curated, corpus, curator):
    heart = corpus.instances[5]  # 双肺纹理增粗。心影增大
    result = send(corpus.team, curator, [
        Disagreement(heart.sop_uid, "increased_heart_shadow", "missed", 0.03, ("normal",)),
        Disagreement(heart.sop_uid, "aortosclerosis", "unreported", 0.91),
    ])  # fmt: skip
    assert (result.created, result.added, result.reopened, result.unchanged) == (1, 0, 0, 0)
    review = ImageReview.objects.get(instance=heart)
    assert review.status == "pending" and review.reason == "model disagreement"
    # The mapping's labels, not the run's ("normal"): that is what the next set would hold.
    assert review.proposed == ["increased_lung_marking", "increased_heart_shadow"]
    assert [(e["run"], e["label"], e["kind"], e["probability"]) for e in review.evidence] == [
        (7, "increased_heart_shadow", "missed", 0.03), (7, "aortosclerosis", "unreported", 0.91),
    ]  # fmt: skip
    assert AuditEntry.objects.filter(team=corpus.team, action="model review").count() == 1


def test_an_unmapped_image_proposes_the_run_s_labels_within_the_vocabulary(corpus, curator):
    image = corpus.instances[11]  # nothing mapped at all
    send(corpus.team, curator, [Disagreement(image.sop_uid, "emphysema", "unreported", 0.97,
                                             ("normal", "abnormal"))])  # fmt: skip
    assert ImageReview.objects.get(instance=image).proposed == ["normal"]


def test_sending_the_same_findings_twice_changes_nothing(curated, corpus, curator):
    found = [Disagreement(corpus.instances[3].sop_uid, "aortosclerosis", "missed", 0.1)]
    send(corpus.team, curator, found)
    before = ImageReview.objects.get(instance=corpus.instances[3])
    again = send(corpus.team, curator, found)
    assert (again.created, again.added, again.unchanged) == (0, 0, 1)
    after = ImageReview.objects.get(instance=corpus.instances[3])
    assert (after.version, after.evidence) == (before.version, before.evidence)
    assert ImageReview.objects.filter(team=corpus.team).count() == 1
    # Another run saying the same adds its own evidence to the one pending review.
    other = send(corpus.team, curator, found, run_id=8)
    assert other.added == 1
    assert [e["run"] for e in ImageReview.objects.get(pk=before.pk).evidence] == [7, 8]


def test_a_pending_conflict_review_gains_the_evidence_and_keeps_its_reason(curated, corpus,
                                                                          curator):  # fmt: skip
    services.freeze_label_set(corpus.team, curator)  # queues image 8: normal + heart shadow
    conflict = ImageReview.objects.get(instance=corpus.instances[8])
    result = send(corpus.team, curator, [
        Disagreement(corpus.instances[8].sop_uid, "normal", "missed", 0.02)])  # fmt: skip
    assert result.added == 1
    conflict.refresh_from_db()
    assert conflict.reason == "conflict" and conflict.status == "pending"
    assert conflict.evidence[0]["label"] == "normal" and conflict.version == 2


def test_a_decided_image_is_reopened_and_its_decision_stays_in_force(curated, corpus, curator):
    services.freeze_label_set(corpus.team, curator)
    image = corpus.instances[8]
    review = ImageReview.objects.get(instance=image)
    services.review_image(corpus.team, curator, review.pk, labels=["normal"], version=1)
    result = send(corpus.team, curator, [
        Disagreement(image.sop_uid, "increased_heart_shadow", "unreported", 0.95)])  # fmt: skip
    assert result.reopened == 1
    review.refresh_from_db()
    assert (review.status, review.labels, review.proposed) == ("pending", ["normal"], ["normal"])
    # Pending again, the curator's decision still holds in the next frozen set...
    pending = services.freeze_label_set(corpus.team, curator)
    assert pending.images.get(sop_uid=image.sop_uid).labels == ["normal"]
    # ...until the curator, with the model's evidence in front of them, corrects it.
    services.review_image(corpus.team, curator, review.pk,
                          labels=["normal", "increased_heart_shadow"], version=review.version)  # fmt: skip
    review.refresh_from_db()
    assert review.status == "corrected"
    corrected = services.freeze_label_set(corpus.team, curator)
    assert corrected.images.get(sop_uid=image.sop_uid).labels == [
        "normal", "increased_heart_shadow"]  # fmt: skip
    # Sending the same finding again leaves the new decision alone.
    assert send(corpus.team, curator, [
        Disagreement(image.sop_uid, "increased_heart_shadow", "unreported", 0.95)
    ]).unchanged == 1  # fmt: skip
    review.refresh_from_db()
    assert review.status == "corrected"


def test_images_no_longer_in_the_team_are_counted_not_created(corpus, curator, personas):
    from tests.factories import make_instance, make_study

    elsewhere = make_instance(make_study(personas.other_team))
    result = send(corpus.team, curator, [
        Disagreement("1.2.3.4.5", "normal", "missed", 0.1),
        Disagreement(elsewhere.sop_uid, "normal", "missed", 0.1),
    ])  # fmt: skip
    assert (result.created, result.unknown) == (0, 2)
    assert not ImageReview.objects.exists()
