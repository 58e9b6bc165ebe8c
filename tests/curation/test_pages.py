"""The curation pages: clusters by size with counts, details with images, label sets, review."""

from django.urls import reverse

from curation import services

from .conftest import cluster_with


def test_workspace_lists_clusters_by_size_with_counts_and_table_one(client, small_run, curator):
    client.force_login(curator)
    page = client.get(reverse("curation:workspace")).content.decode()
    assert page.index("主动脉硬化") < page.index("心影增大")  # 4 clauses before 2
    assert "4 clauses · 4 reports · 4 images · 4 patients" in page
    assert 'data-key="normal"' in page and "run-form" in page
    partial = client.get(reverse("curation:workspace") + "?partial=clusters").content.decode()
    assert "<html" not in partial and "主动脉硬化" in partial


def test_cluster_details_show_clauses_words_and_images_linking_to_studies(
    client, small_run, curator, corpus
):
    client.force_login(curator)
    cluster = cluster_with(small_run, "主动脉硬化")
    page = client.get(reverse("curation:cluster-detail", args=[cluster.pk]) + "?partial=1")
    html = page.content.decode()
    assert "主动脉迂曲硬化" in html and "硬化 <small>4</small>" in html
    for index in (3, 4, 6, 10):
        study, instance = corpus.studies[index], corpus.instances[index]
        assert reverse("labeling:study-detail", args=[study.pk]) in html
        assert reverse("labeling:instance-thumbnail", args=[instance.pk]) in html


def test_a_viewer_sees_the_workspace_without_curation_controls(client, small_run, personas):
    client.force_login(personas.teammate)
    page = client.get(reverse("curation:workspace")).content.decode()
    assert "主动脉硬化" in page and "run-form" not in page
    assert client.post(reverse("curation:label-sets")).status_code == 403


def test_freezing_from_the_label_sets_page_shows_the_new_version(client, small_run, curator):
    cluster = cluster_with(small_run, "心影增大")
    label = services.vocabulary(small_run.team)[3]
    services.set_verdict(
        small_run.team, curator, {cluster.pk: 1}, verdict="label", label_id=label.pk
    )
    client.force_login(curator)
    response = client.post(reverse("curation:label-sets"), {"note": "first"}, follow=True)
    html = response.content.decode()
    assert "v1" in html and "first" in html
    assert client.get(reverse("curation:review")).status_code == 200
