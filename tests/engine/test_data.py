"""Dataset directories, patient-level splits, the paper's rebalancing and DDP sharding."""

import numpy as np
import pytest

from training.engine.config import ConfigError
from training.engine.data import (
    TEST,
    TRAIN,
    VAL,
    SplitError,
    check_disjoint,
    make_synthetic_dataset,
    open_dataset,
    patient_split,
    rebalanced_counts,
    rebalanced_epoch,
    shard,
    write_dataset,
)  # fmt: skip


def test_dataset_round_trips_and_images_are_memory_mapped(tmp_path):
    images = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)
    records = [{"image_id": f"i{k}", "patient_id": "p", "labels": labels}
               for k, labels in enumerate([["normal"], ["a", "b"], []])]  # fmt: skip
    write_dataset(tmp_path, images, records, ["normal", "a", "b"])
    ds = open_dataset(tmp_path)
    assert isinstance(ds.images, np.memmap)
    np.testing.assert_array_equal(ds.images, images)
    assert ds.labels.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    assert ds.image_ids == ["i0", "i1", "i2"] and ds.image_size == 8


def test_npy_store_is_accepted_and_a_wrong_size_store_is_named(tmp_path):
    images = np.zeros((2, 8, 8), np.uint8)
    records = [{"image_id": str(k), "patient_id": "p", "labels": ["normal"]} for k in range(2)]
    write_dataset(tmp_path, images, records, ["normal"])
    (tmp_path / "images.u8").unlink()
    np.save(tmp_path / "images.npy", images)
    assert open_dataset(tmp_path).images.shape == (2, 8, 8)
    (tmp_path / "images.npy").unlink()
    (tmp_path / "images.u8").write_bytes(b"\0" * 100)
    with pytest.raises(ConfigError, match="images.u8: holds 100 bytes"):
        open_dataset(tmp_path)


def test_unknown_label_in_index_names_the_line(tmp_path):
    write_dataset(tmp_path, np.zeros((1, 8, 8), np.uint8),
                  [{"image_id": "a", "patient_id": "p", "labels": ["typo"]}], ["normal"])  # fmt: skip
    with pytest.raises(ConfigError, match=r"index.jsonl:1: bad record"):
        open_dataset(tmp_path)


def test_no_patient_in_two_splits_and_shares_near_80_10_10(tmp_path):
    ds = open_dataset(make_synthetic_dataset(tmp_path, n=2000, size=8, n_labels=10, seed=1))
    split = patient_split(ds.patient_ids, ds.labels, (0.8, 0.1, 0.1), seed=3, min_per_label=5)
    for a, b in [(TRAIN, VAL), (TRAIN, TEST), (VAL, TEST)]:
        assert not set(ds.patient_ids[split == a]) & set(ds.patient_ids[split == b])
    shares = np.bincount(split, minlength=3) / len(split)
    np.testing.assert_allclose(shares, [0.8, 0.1, 0.1], atol=0.03)
    again = patient_split(ds.patient_ids, ds.labels, (0.8, 0.1, 0.1), seed=3, min_per_label=5)
    np.testing.assert_array_equal(split, again)


def test_rare_label_gets_its_minimum_in_validation_and_test_like_emphysema():
    # 300 patients, one image each; the rare label sits on 12 of them
    patients = np.array([f"p{i}" for i in range(300)])
    labels = np.zeros((300, 2), bool)
    labels[:, 0] = True
    labels[:12, 0], labels[:12, 1] = False, True
    for seed in range(5):
        split = patient_split(patients, labels, (0.8, 0.1, 0.1), seed=seed, min_per_label=5)
        rare = np.bincount(split[labels[:, 1]], minlength=3)
        assert rare[VAL] >= 4 and rare[TEST] >= 4 and rare[TRAIN] >= 2  # min(5, 12 // 3) = 4
    split = patient_split(patients, labels, (0.8, 0.1, 0.1), seed=0, min_per_label=3)
    assert np.bincount(split[labels[:, 1]], minlength=3)[[VAL, TEST]].min() >= 3


def test_check_disjoint_raises_when_a_patient_straddles_splits():
    with pytest.raises(SplitError, match="patient b is in both train and test"):
        check_disjoint(np.array([TRAIN, TRAIN, TEST]), np.array(["a", "b", "b"]))


def test_paper_rebalancing_raises_small_classes_and_cuts_normal_to_its_fraction():
    counts = np.array([5000, 2000, 300, 40, 0])
    wanted = rebalanced_counts(counts, min_count=380, min_fraction=0.03, majority=0,
                               majority_fraction=0.219)  # fmt: skip
    floor = max(380, int(np.ceil(0.03 * counts.sum())))  # 3% of 7,340 = 221 < 380
    assert wanted[1:].tolist() == [2000, floor, floor, 0]
    assert wanted[0] / wanted.sum() == pytest.approx(0.219, abs=0.001)
    targets = np.repeat(np.arange(5), counts)
    epoch = rebalanced_epoch(targets, wanted, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(targets[epoch], minlength=5), wanted)
    minority = epoch[targets[epoch] == 3]
    assert set(minority) == set(np.flatnonzero(targets == 3))  # every rare image is used
    assert len(set(epoch[targets[epoch] == 0])) == wanted[0]  # normals without repeats


def test_shards_cover_the_epoch_with_equal_lengths():
    order = np.arange(10)
    parts = [shard(order, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]
    assert set(np.concatenate(parts)) == set(order)
