"""Reviewing an image: accepting the proposal is 'accepted' whatever order it was proposed in."""

from curation import services
from curation.models import ImageReview


def test_accepting_labels_proposed_out_of_vocabulary_order_counts_as_accepted(corpus, curator):
    proposed = ["normal", "increased_heart_shadow"]  # vocabulary order; not alphabetical
    review = ImageReview.objects.create(
        team=corpus.team, instance=corpus.instances[8], proposed=proposed
    )
    done = services.review_image(corpus.team, curator, review.pk, labels=proposed, version=1)
    assert (done.status, done.labels) == ("accepted", proposed)
    other = ImageReview.objects.create(
        team=corpus.team, instance=corpus.instances[5], proposed=["normal"]
    )
    fixed = services.review_image(
        corpus.team, curator, other.pk, labels=["pleural_thickening"], version=1
    )
    assert (fixed.status, fixed.labels) == ("corrected", ["pleural_thickening"])
