"""The run page shows the engine's numbers: Table II per label with AUC, CI, support and PPV,
the confusion matrix, task 3's mean AP and AP CDF, the binary task's accuracy and AUC."""

import json

from django.urls import reverse
from django.utils import translation

from .pages import engine_outputs, metric_cells, num3, pct


def charts_of(html: str) -> dict:
    start = html.index('id="results-charts"')
    body = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(body)


def test_every_number_of_the_run_table_equals_the_engine_s_metrics(client, personas, single_run):
    metrics, predictions = engine_outputs(single_run)
    client.force_login(personas.teammate)
    html = client.get(reverse("results:run", args=[single_run.pk])).content.decode()
    cells = metric_cells(html)
    test = metrics["test"]
    names = metrics["class_names"]
    task_test = [p for p in predictions if p["subset"] == "task" and p["split"] == "test"]
    for j, key in enumerate(names):
        assert cells[("task", key, "specificity")] == pct(test["specificity"][key])
        assert cells[("task", key, "sensitivity")] == pct(test["sensitivity"][key])
        assert cells[("task", key, "top3_sensitivity")] == pct(test["top3_sensitivity"][key])
        low, high = test["auc_ci95"][key]
        expected_auc = num3(test["auc"][key])
        if low is not None:
            expected_auc += f" ({num3(low)}–{num3(high)})"
        assert cells[("task", key, "auc")] == expected_auc
        # Support and PPV, recounted here from the predictions the engine wrote.
        support = sum(p["labels"] == [key] for p in task_test)
        assert cells[("task", key, "support")] == str(support)
        column = [row[j] for row in test["confusion_matrix"]]
        ppv = test["confusion_matrix"][j][j] / sum(column) if sum(column) else None
        assert cells[("task", key, "ppv")] == pct(ppv)
    assert cells[("", "", "accuracy")] == pct(test["accuracy"])
    # The confusion matrix, cell by cell.
    for i, true in enumerate(names):
        for j, predicted in enumerate(names):
            link = f'data-true="{true}" data-pred="{predicted}"'
            start = html.index(link)
            count = html[html.index(">", start) + 1 : html.index("</a>", start)]
            assert int(count) == test["confusion_matrix"][i][j]
    # Task 3: mean AP and the CDF the chart draws are the engine's.
    multi = metrics["multi_disease"]["test"]
    assert cells[("", "", "mean_ap")] == num3(multi["mean_ap"])
    for key in names:
        assert cells[("multi_disease", key, "sensitivity")] == pct(multi["sensitivity"][key])
    charts = charts_of(html)
    assert charts["apCdf"] == multi["ap_cdf"]
    assert charts["confusion"]["matrix"] == test["confusion_matrix"]
    # The live threshold control starts from the thresholds chosen on validation.
    assert charts["threshold"]["thresholds"] == [round(multi["thresholds"][k], 4) for k in names]
    assert len(charts["threshold"]["scores"]) == multi["n"]
    # ROC curves: one per label with both classes in the test split, thresholds included.
    assert charts["roc"]
    for curve in charts["roc"].values():
        assert len(curve["fpr"]) == len(curve["tpr"]) == len(curve["threshold"]) >= 2
        assert curve["fpr"][0] == curve["tpr"][0] == 0 and curve["tpr"][-1] == 1
    # Training curves from the engine's history, one point per epoch.
    assert [h["epoch"] for h in charts["history"]] == [1, 2]


def test_the_reference_column_holds_the_paper_and_the_public_benchmarks(client, personas,
                                                                        single_run):  # fmt: skip
    client.force_login(personas.owner)
    html = client.get(reverse("results:run", args=[single_run.pk])).content.decode()
    # The tiny architecture is in neither column of Table II: both are shown.
    assert "paper VGG-16: 71.5 / 78.5 / 99.7" in html
    assert "paper ResNet-101: 86.3 / 43.2 / 99.6" in html  # increased lung marking
    assert "paper (ResNet-101): 0.829" in html


def test_the_binary_task_shows_accuracy_auc_and_its_confusion_matrix(client, personas,
                                                                     binary_run):  # fmt: skip
    metrics, _ = engine_outputs(binary_run)
    test = metrics["test"]
    client.force_login(personas.owner)
    html = client.get(reverse("results:run", args=[binary_run.pk])).content.decode()
    cells = metric_cells(html)
    assert cells[("", "", "accuracy")] == pct(test["accuracy"])
    assert cells[("", "", "auc")].startswith(num3(test["auc"]))
    assert cells[("", "", "sensitivity")] == pct(test["sensitivity"])
    assert cells[("", "", "specificity")] == pct(test["specificity"])
    assert charts_of(html)["confusion"]["matrix"] == test["confusion_matrix"]
    assert "Paper (VGG-16, 1,656 test images): accuracy 82.2%, AUC 0.88." in html


def test_label_names_follow_the_chosen_language(client, personas, single_run):
    client.force_login(personas.owner)
    with translation.override("zh-hans"):
        html = client.get(
            reverse("results:run", args=[single_run.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
        ).content.decode()
    assert "主动脉硬化" in html and "肺纹理增多" in html
