"""A hedge written only as a question mark (心影增大？) is its own clause text: its decision never
overwrites the affirmed clause's (心影增大), because decisions are keyed by the normalised text
and that form keeps the mark (issue #15: the per-image labels lost increased heart shadow on 196
of the demo's reports when the two shared one text)."""

from curation import services
from curation.models import Label
from labeling.text import AFFIRMED, UNCERTAIN, normalize

from .test_normal import make_studies

DIAGNOSES = ("心影增大", "心影增大", "心影增大？", "主动脉硬化", "主动脉硬化？")


def test_the_hedged_twin_of_a_finding_has_its_own_text_and_decision(personas, curator):
    instances = make_studies(personas.team, DIAGNOSES)
    team = personas.team
    run = services.run_clustering(team, k=4, seed=0, user=curator, distance="paper")
    clusters = {
        (c.polarity, member): c
        for c in run.clusters.filter(merged_into=None)
        for member in c.members.values_list("normalized", flat=True)
    }
    affirmed = clusters[(AFFIRMED, normalize("心影增大"))]
    hedged = clusters[(UNCERTAIN, normalize("心影增大？"))]
    assert affirmed.pk != hedged.pk and normalize("心影增大？") != normalize("心影增大")
    heart = Label.objects.get(team=team, key="increased_heart_shadow")

    services.set_verdict(team, curator, {affirmed.pk: affirmed.version}, verdict="label",
                         label_id=heart.pk)  # fmt: skip
    hedged.refresh_from_db()
    services.set_verdict(team, curator, {hedged.pk: hedged.version}, verdict="no_label")

    labels = services.current_vectors(team).labels
    assert labels[instances[0].sop_uid] == ["increased_heart_shadow"]
    assert labels[instances[1].sop_uid] == ["increased_heart_shadow"]
    assert "increased_heart_shadow" not in labels.get(instances[2].sop_uid, [])
