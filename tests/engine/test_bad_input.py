"""Bad input fails fast, before training, with one message naming the field or path."""

import json

import numpy as np
import pytest

from training.engine.__main__ import main
from training.engine.config import ConfigError, from_dict, load_config
from training.engine.data import write_dataset
from training.engine.runner import preflight


@pytest.mark.parametrize(
    ("override", "field"),
    [({"arch": "alexnet"}, "arch"), ({"task": "segmentation"}, "task"),
     ({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"), ({"majority_fraction": 1.5},
     "majority_fraction"), ({"split_fractions": [0.5, 0.5]}, "split_fractions"),
     ({"eval_crops": "ten"}, "eval_crops")],
)  # fmt: skip
def test_out_of_range_values_name_their_field(tiny_config, override, field):
    with pytest.raises(ConfigError, match=f"^{field}: "):
        tiny_config(**override)


def test_unknown_field_and_wrong_type_are_refused():
    with pytest.raises(ConfigError, match="^learning_rate: unknown config field"):
        from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="^epochs: expected int"):
        from_dict({"epochs": "many"})


def test_missing_dataset_directory_and_index_name_the_path(tiny_config, tmp_path):
    with pytest.raises(ConfigError, match=f"dataset: directory {tmp_path / 'nowhere'} not found"):
        preflight(tiny_config(dataset=str(tmp_path / "nowhere")))
    ds = write_dataset(tmp_path / "ds", np.zeros((1, 64, 64), np.uint8),
                       [{"image_id": "a", "patient_id": "p", "labels": ["normal"]}], ["normal", "x"])  # fmt: skip
    (ds / "index.jsonl").unlink()
    with pytest.raises(ConfigError, match=f"{ds / 'index.jsonl'}: dataset index not found"):
        preflight(tiny_config(dataset=str(ds)))


def test_missing_weights_file_names_the_path_looked_for(tiny_config, tmp_path):
    with pytest.raises(ConfigError, match=f"weights: {tmp_path / 'resnet101-cd907fc2.pth'}"):
        preflight(tiny_config(arch="resnet101", weights=str(tmp_path)))
    with pytest.raises(ConfigError, match="weights: /no/such/file.pth not found"):
        preflight(tiny_config(arch="vgg16", weights="/no/such/file.pth"))


def test_label_without_examples_in_a_needed_split_is_named(tiny_config, tmp_path):
    rng = np.random.default_rng(0)
    records = [{"image_id": str(i), "patient_id": f"p{i}", "labels": ["normal" if i % 2 else "x"]}
               for i in range(40)] + [{"image_id": "40", "patient_id": "p40", "labels": ["rare"]}]  # fmt: skip
    images = rng.integers(0, 255, (41, 64, 64), dtype=np.uint8)
    ds = write_dataset(tmp_path / "ds", images, records, ["normal", "x", "rare"])
    with pytest.raises(ConfigError, match="label 'rare' has no examples in the (val|test) split"):
        preflight(tiny_config(dataset=str(ds), task="single_disease"))


def test_config_files_yaml_and_json_with_overrides(tmp_path):
    (tmp_path / "a.yaml").write_text("arch: vgg16\nepochs: 3\ndataset: /d\nflip: true\n")
    cfg = load_config(tmp_path / "a.yaml", ["epochs=5", "lr=1e-3", "split_fractions=[0.7,0.2,0.1]"])
    assert (cfg.arch, cfg.epochs, cfg.lr, cfg.flip) == ("vgg16", 5, 0.001, True)
    assert cfg.split_fractions == [0.7, 0.2, 0.1]
    (tmp_path / "b.json").write_text(json.dumps({"dataset": "/d", "task": "multi_label"}))
    assert load_config(tmp_path / "b.json").task == "multi_label"
    with pytest.raises(ConfigError, match="epochs5: override must look like key=value"):
        load_config(tmp_path / "b.json", ["epochs5"])


def test_cli_prints_one_line_and_exits_2_without_traceback(tmp_path, capsys):
    code = main(["train", f"dataset={tmp_path}/missing", "arch=tiny"])
    assert code == 2
    assert capsys.readouterr().err == f"error: dataset: directory {tmp_path}/missing not found\n"
