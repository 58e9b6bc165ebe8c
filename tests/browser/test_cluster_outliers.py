"""A curator maps a cluster with a planted outlier and sends the outlier to the unmapped queue
(issue #15, item 3): the card says what the outlier is, the label dialog asks what to do with
it and how many images each choice labels, and only the images of the cluster's other
clauses get the label."""

import pytest

from curation import services
from tests.curation.test_outliers import PLANTED, plant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_mapping_a_cluster_sends_its_planted_outlier_to_the_unmapped_queue(
    login, live_server, personas
):
    planted = plant(personas.team, personas.owner)
    label = next(lb for lb in services.vocabulary(planted.team) if lb.key == "aortosclerosis")
    page = login(personas.owner)
    page.goto(f"{live_server.url}/curation/")

    first = page.locator("#clusters .cluster").first  # the least pure cluster comes first
    assert first.get_attribute("data-id") == str(planted.aorta.pk)
    assert PLANTED in first.locator(".outliers").inner_text()
    first.click()
    page.keyboard.press("l")
    dialog = page.locator("#label-dialog")
    choice = dialog.locator(".outlier-choice")
    choice.wait_for(state="visible")
    assert "1 outlier" in choice.locator("legend").inner_text()
    assert "labels 8 images" in choice.locator(".choice-keep").inner_text()
    assert "labels 7 images" in choice.locator(".choice-unmapped").inner_text()
    dialog.locator("select").select_option(value=str(label.pk))
    page.keyboard.press("k")  # the keys pick a choice: keep …
    assert choice.locator("input[value=keep]").is_checked()
    page.keyboard.press("q")  # … no: send it to the unmapped queue
    assert choice.locator("input[value=unmapped]").is_checked()
    dialog.locator("button[value=ok]").click()

    card = page.locator(f'#clusters .cluster[data-id="{planted.aorta.pk}"]')
    card.locator(".label-badge").wait_for()
    assert card.locator(".outliers").count() == 0
    assert "1 outlier sent to the unmapped queue" in page.locator("#toast").inner_text()

    vectors = services.current_vectors(planted.team).labels
    got = {sop for sop, keys in vectors.items() if "aortosclerosis" in keys}
    assert got == planted.sops("主动脉弓硬化", "主动脉硬化")
    assert not got & planted.sops(PLANTED)

    page.goto(f"{live_server.url}/curation/unmapped/")
    page.locator(f'#unmapped .unmapped-item[data-text="{PLANTED}"]').wait_for()


def test_the_unmapped_queue_selects_clears_and_undoes_like_the_workspace(
    login, live_server, personas
):
    from tests.factories import make_instance, make_report, make_study

    planted = plant(personas.team, personas.owner)
    aorta = planted.aorta
    label = next(lb for lb in services.vocabulary(planted.team) if lb.key == "aortosclerosis")
    services.set_verdict(
        planted.team, personas.owner, {aorta.pk: aorta.version}, verdict="label",
        label_id=label.pk, outliers="unmapped",
    )  # fmt: skip
    study = make_study(planted.team)
    make_report(study, diagnosis="右侧肋骨骨折")  # arrived after the run: unmapped too
    make_instance(study)
    # Nothing curated lies within the threshold of either: both wait in the queue.
    assert services.auto_label_new_reports(planted.team, personas.owner).unmapped == 2
    page = login(personas.owner)
    page.goto(f"{live_server.url}/curation/unmapped/")
    bar = page.locator("#selection-bar")
    items = page.locator("#unmapped .unmapped-item")
    assert items.count() == 2 and "Nothing selected" in bar.inner_text()

    page.keyboard.press("x")
    assert "1 clause text selected" in bar.inner_text()
    page.keyboard.press("Escape")
    assert "Nothing selected" in bar.inner_text() and page.locator(".selected").count() == 0
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert "2 clause texts selected" in bar.inner_text()

    page.keyboard.press("n")
    page.locator("#unmapped .empty").wait_for()
    toast = page.locator("#toast")
    assert "2 clause texts marked as carrying no label." in toast.inner_text()
    assert "Nothing selected" in bar.inner_text()
    toast.locator(".toast-undo").click()
    page.locator(f'#unmapped .unmapped-item[data-text="{PLANTED}"]').wait_for()
    assert items.count() == 2 and "undone" in toast.inner_text()
    texts = {normalized for normalized, _, _ in services.unmapped_texts(planted.team)}
    assert texts == {PLANTED, "右侧肋骨骨折"}
