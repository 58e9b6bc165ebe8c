"""Metrics against hand-computed cases, the paper's worked example and scikit-learn."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from training.engine import metrics as m


def test_paper_example_three_true_labels_ranked_1_2_4_gives_0_9167():
    scores = np.array([0.9, 0.8, 0.5, 0.6, 0.1])  # ranks: 1, 2, 4, 3, 5
    truth = np.array([True, True, True, False, False])
    assert m.image_average_precision(scores, truth) == pytest.approx((1 + 1 + 3 / 4) / 3)
    assert round(m.image_average_precision(scores, truth), 4) == 0.9167


def test_perfect_ranking_has_ap_one_and_single_true_label_at_rank_3_has_one_third():
    assert m.image_average_precision(np.array([0.1, 0.7, 0.9]), np.array([0, 1, 1], bool)) == 1.0
    assert m.image_average_precision(np.array([0.9, 0.8, 0.1]), np.array([0, 0, 1], bool)) == (
        pytest.approx(1 / 3)
    )


def test_ap_without_true_label_is_an_error_and_mean_ap_skips_such_images():
    with pytest.raises(ValueError, match="no true label"):
        m.image_average_precision(np.array([0.5, 0.5]), np.array([False, False]))
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.4]])
    truth = np.array([[1, 0], [1, 0], [0, 0]], bool)
    assert m.mean_average_precision(scores, truth) == pytest.approx((1 + 0.5) / 2)
    values, fraction = m.cdf(m.per_image_average_precision(scores, truth))
    assert values.tolist() == [0.5, 1.0] and fraction.tolist() == [0.5, 1.0]


def test_sensitivity_specificity_and_confusion_matrix_by_hand():
    targets = [0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 2, 2]
    cm = m.confusion_matrix(pred, targets, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    sens, spec = m.sensitivity_specificity(pred, targets, 3)
    np.testing.assert_allclose(sens, [2 / 3, 1 / 2, 1])
    np.testing.assert_allclose(spec, [3 / 3, 3 / 4, 4 / 5])
    assert m.accuracy(pred, targets) == pytest.approx(4 / 6)


def test_label_absent_from_targets_has_undefined_sensitivity_not_zero():
    sens, _ = m.sensitivity_specificity([0, 0], [0, 0], 2)
    assert sens[0] == 1.0 and math.isnan(sens[1])


def test_top_3_sensitivity_counts_true_label_among_three_highest():
    scores = np.array(
        [
            [0.5, 0.2, 0.1, 0.1, 0.1],  # true 0 at rank 1: hit
            [0.4, 0.3, 0.2, 0.1, 0.0],  # true 3 at rank 4: miss
            [0.1, 0.2, 0.3, 0.4, 0.0],  # true 3 at rank 1: hit
            [0.4, 0.3, 0.2, 0.05, 0.05],  # true 2 at rank 3: hit
        ]
    )
    targets = [0, 3, 3, 2]
    got = m.top_k_sensitivity(scores, targets, k=3)
    np.testing.assert_allclose(got[[0, 2, 3]], [1.0, 1.0, 0.5])
    assert math.isnan(got[1])
    np.testing.assert_allclose(m.top_k_sensitivity(scores, targets, k=1)[[0, 3]], [1.0, 0.5])


def test_roc_points_and_auc_agree_with_scikit_learn_including_ties():
    rng = np.random.default_rng(3)
    positives = rng.random(300) < 0.3
    scores = np.round(rng.random(300) + positives * 0.4, 1)  # rounding makes many ties
    fpr, tpr, thr = m.roc_curve(scores, positives)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(positives, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert m.roc_auc(scores, positives) == pytest.approx(skm.roc_auc_score(positives, scores))


def test_per_label_auc_is_one_vs_rest_like_scikit_learn():
    rng = np.random.default_rng(4)
    targets = rng.integers(0, 4, 200)
    scores = rng.random((200, 4)) + np.eye(4)[targets] * 0.5
    scores /= scores.sum(1, keepdims=True)
    expected = [skm.roc_auc_score(targets == j, scores[:, j]) for j in range(4)]
    np.testing.assert_allclose(m.per_label_auc(scores, targets), expected)
    macro = skm.roc_auc_score(targets, scores, multi_class="ovr", average="macro")
    assert np.mean(m.per_label_auc(scores, targets)) == pytest.approx(macro)


def test_youden_threshold_separates_a_separable_case_and_bootstrap_ci_brackets_auc():
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    positives = np.array([0, 0, 0, 1, 1, 1], bool)
    assert m.youden_threshold(scores, positives) == 0.6
    rng = np.random.default_rng(5)
    positives = rng.random(400) < 0.5
    scores = rng.random(400) + positives * 0.3
    auc = m.roc_auc(scores, positives)
    lo, hi = m.bootstrap_auc_ci(scores, positives, n_boot=300, seed=1)
    assert lo < auc < hi and hi - lo < 0.2


def test_reports_are_json_safe():
    import json

    scores = np.array([[0.7, 0.3], [0.4, 0.6]])
    report = m.multiclass_report(scores, np.array([0, 0]), ["normal", "emphysema"])
    text = json.dumps(m.to_jsonable(report), allow_nan=False)
    assert '"emphysema": null' in text


def test_thresholds_fall_back_to_defaults_when_validation_has_no_images():
    """Task 3 on a split whose validation holds no multi-label image: nothing to choose on."""
    from training.engine.tasks import Task, thresholds_from

    multi = Task("multi_label", ["a", "b", "c"], np.ones(4, bool), np.zeros((4, 3)), None)
    single = Task("single_disease", ["a", "b", "c", "d"], np.ones(4, bool), np.zeros(4, int), None)
    empty = np.zeros((0, 0))
    np.testing.assert_array_equal(thresholds_from(multi, empty, np.zeros((0, 3))), [0.5] * 3)
    np.testing.assert_array_equal(thresholds_from(single, empty, np.zeros(0, int)), [0.25] * 4)


def test_task_three_is_skipped_with_a_reason_when_no_test_image_has_two_labels():
    from types import SimpleNamespace

    from training.engine.runner import TEST, TRAIN, _multi_disease

    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    split = np.array([TEST, TEST, TRAIN, TEST])  # the only two-label image is in training
    prep = SimpleNamespace(
        dataset=SimpleNamespace(labels=labels, image_ids=["a", "b", "c", "d"]),
        split=split,
        task=SimpleNamespace(class_names=["x", "y", "z"]),
    )
    block, records = _multi_disease(prep, lambda rows: np.zeros((len(rows), 3)))
    assert block == {"test": None, "reason": "no test image carries two or more labels"}
    assert records == []
