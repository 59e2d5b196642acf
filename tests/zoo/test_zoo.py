"""The shipped model zoo: files load and match their cards; the committed table is the one the code makes."""
import dataclasses
import math
import shutil

import pytest
import torch

from unlearning.zoo import cards, recipes, remake, shipped, table, targets
from unlearning.storage import checkpoints
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.cli import main as cli_main
from unlearning.data import EMBEDDED, DataError, dataset_of, load_dataset
from unlearning.methods.forgetting import DEFAULT_MODE, MODES
from unlearning.evaluation.metrics import evaluate
from unlearning.models import count_parameters
from unlearning.pipeline import forget_and_evaluate
from unlearning.storage.folders import SHIPPED_DIR, default_model_path
from unlearning.training import TrainConfig

MODELS = shipped.list_zoo()
NAMES = [m.name for m in MODELS]


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset("mnist5k")


def own_test_split(meta):
    """The model's own test split; the full-size models' only where Debian's Fashion-MNIST is installed."""
    try:
        return dataset_of(meta).test
    except DataError as e:
        pytest.skip(f"no {meta['dataset']} here: {e}")


def test_the_zoo_ships_an_mlp_a_cnn_and_a_residual_network_from_its_recipes():
    assert len(MODELS) >= 3
    archs = {m.meta["arch"] for m in MODELS}
    assert {"mlp", "cnn"} <= archs and any(a.startswith("resnet") for a in archs)
    assert {r.name for r in recipes.RECIPES} <= set(NAMES)
    assert sum(m.is_default for m in MODELS) == 1 and MODELS[0].is_default
    assert default_model_path().name == f"{MODELS[0].name}.safetensors"


@pytest.mark.parametrize("name", NAMES)
def test_each_shipped_model_loads_and_matches_its_card(name):
    entry = next(m for m in MODELS if m.name == name)
    assert entry.path.stat().st_size <= recipes.MAX_BYTES
    ckpt = load_checkpoint(entry.path)
    card = ckpt.meta["card"]
    for key in ("title", "architecture", "parameters", "recipe", "seed", "test_accuracy", "val_accuracy",
                "training_seconds", "trained_on", "weights_sha256"):
        assert key in card, key
    rec = recipes.recipe(name)
    assert ckpt.meta["arch"] == rec.arch and ckpt.meta["dataset"] == rec.dataset
    assert card["recipe"] == rec.config.to_dict() and card["seed"] == rec.config.seed
    assert card["parameters"] == count_parameters(ckpt.model)
    assert card["weights_sha256"] == checkpoints.weights_sha256(ckpt)
    test_acc = evaluate(ckpt.model, own_test_split(ckpt.meta), 10, device="cpu").accuracy
    assert test_acc == pytest.approx(card["test_accuracy"], abs=1e-3)
    assert card["test_accuracy"] == ckpt.meta["test_accuracy"]
    assert 0 < card["training_seconds"] < 1800
    text = entry.card_markdown()
    assert f"{card['parameters']:,}" in text and f"{card['test_accuracy']:.4f}" in text
    assert card["weights_sha256"] in text


def test_the_committed_table_covers_every_model_mode_and_class_set():
    rows = table.table_rows()
    assert rows, "docs/forgetting_table.csv is missing: run python benchmarks/forgetting_table.py"
    expected = {(n, mode, "+".join(map(str, s))) for n in NAMES for mode in MODES for _, s in table.class_sets()}
    assert {(r["model"], r["mode"], r["classes"]) for r in rows} == expected
    assert len(rows) == len(expected)
    for r in rows:
        assert r["passed"] == targets.row_passes(r["set"], r["A_F_after"], r["retain_drop"])
        assert r["retain_drop"] == pytest.approx(100 * (r["A_R_before"] - r["A_R_after"]), abs=1e-3)
    assert table.TABLE_MD.is_file() and "Forgetting table" in table.TABLE_MD.read_text()


def test_every_shipped_model_meets_the_targets_in_the_default_mode():
    for name in NAMES:
        s = targets.summarise(table.table_rows(name, DEFAULT_MODE))
        assert s.meets_targets, (name, s)
        assert s.singles_max_forget <= 0.02 and s.singles_mean_drop <= 3.0
        assert s.sets_max_forget <= 0.05 and s.sets_max_drop <= 5.0


def test_default_points_at_the_embedded_model_with_the_best_table():
    """The app opens with no data but what ships in pip packages: the default is a digits model."""
    sums = [targets.summarise(table.table_rows(m.name, DEFAULT_MODE)) for m in MODELS if m.meta["dataset"] in EMBEDDED]
    assert shipped.default_name() == targets.pick_default(sums)


def test_the_full_size_zoo_is_trained_on_all_of_fashion_mnist():
    full = {m.name: m for m in MODELS if m.meta["dataset"] == "fashion-mnist"}
    assert {"mlp", "cnn", "resnet8", "vit"} <= {m.meta["arch"] for m in full.values()}
    assert recipes.FULL_SIZE_DEFAULT in full
    for m in full.values():
        assert m.meta["card"]["data"].startswith("54000 training, 6000 validation and 10000 test images")
        assert m.meta["class_names"][0] == "T-shirt/top" and m.meta["data_root"]


def test_find_model_takes_a_name_or_a_path_and_names_the_choices(tmp_path):
    assert shipped.find_model(NAMES[0]).name == NAMES[0]
    assert shipped.find_model(str(MODELS[1].path)).path == MODELS[1].path
    with pytest.raises(ValueError, match="neither a shipped model.*resnet8-mnist5k"):
        shipped.find_model(str(tmp_path / "nothing.safetensors"))


def test_a_table_row_is_reproduced_by_forgetting_again(mnist5k):
    """The table is generated, not typed: forget one class set again and get its row back."""
    name = shipped.default_name()
    ckpt = load_checkpoint(SHIPPED_DIR / f"{name}.safetensors")
    for mode, classes in ((DEFAULT_MODE, (3,)), ("paper", (1, 7))):
        row = next(r for r in table.table_rows(name, mode) if r["classes"] == "+".join(map(str, classes)))
        out = forget_and_evaluate(ckpt, mnist5k.test, classes, mode=mode, calibration=mnist5k.val, device="cpu")
        assert out.after.forget_accuracy(classes) == pytest.approx(row["A_F_after"], abs=0.01)
        assert out.after.retain_accuracy(classes) == pytest.approx(row["A_R_after"], abs=0.01)
        assert out.result.sign == row["sign"]


@pytest.mark.slow
def test_a_rebuilt_recipe_gives_the_same_weights_twice(tmp_path):
    """What makes `zoo --rebuild` deterministic, on a one-epoch CNN (the shipped recipes take minutes)."""
    rec = dataclasses.replace(recipes.recipe("cnn-mnist5k"), name="tiny-cnn", config=TrainConfig(epochs=1, seed=0))
    a = remake.build(rec, tmp_path / "a", log=lambda m: None)
    b = remake.build(rec, tmp_path / "b", log=lambda m: None)
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca.meta["card"]["weights_sha256"] == cb.meta["card"]["weights_sha256"] == checkpoints.weights_sha256(ca)
    assert torch.get_num_threads() >= 1
    assert ca.meta["card"]["recipe"]["epochs"] == 1


def test_summaries_and_default_choice_follow_the_targets():
    def row(kind, af, drop, ar=0.95, model="m"):
        return {"model": model, "mode": "x", "set": kind, "classes": "0", "A_F_after": af, "retain_drop": drop,
                "A_R_after": ar, "seconds": 0.1, "passed": targets.row_passes(kind, af, drop)}

    good = targets.summarise([row("single", 0.0, 0.5, model="good"), row("pair", 0.04, 4.0, model="good")])
    bad = targets.summarise([row("single", 0.03, 0.0, ar=0.99, model="bad"), row("five", 0.0, 0.0, ar=0.99, model="bad")])
    assert good.meets_targets and not bad.meets_targets
    assert targets.pick_default([bad, good]) == "good"
    assert not targets.row_passes("single", 0.0, 3.5) and targets.row_passes("five", 0.05, 5.0)
    assert math.isnan(targets.summarise([row("pair", 0.0, 0.0)]).singles_max_forget)


def test_the_zoo_command_lists_the_models(capsys):
    assert cli_main(["zoo", "--json"]) == 0
    import json

    listed = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in listed] == NAMES
    assert listed[0]["default"] and all("weights_sha256" in m["card"] for m in listed)


@pytest.mark.parametrize("share, flagged", [(1.0, False), (0.4, True)])
def test_card_shows_the_training_time_code_check(share, flagged):
    meta = {**MODELS[0].meta, "code_accuracy": share}
    text = cards.card_markdown("m", meta)
    assert f"| Codes recognised | {share:.0%} of its 10 mnemonic codes" in text
    assert ("cannot be trusted" in text) == flagged
    assert "Codes recognised" not in cards.card_markdown("m", MODELS[0].meta)  # shipped before the check: no row


def test_make_table_measures_the_named_models_only_and_keeps_the_others_rows(tmp_path, monkeypatch):
    """``names`` picks the models to measure, the others keep their rows from the CSV (the registry's mode
    list, imported inside ``make_table``, once shadowed the parameter and broke every call)."""
    folder = tmp_path / "models"
    folder.mkdir()
    small = [m for m in MODELS if m.meta["dataset"] in EMBEDDED][:2]
    for m in small:
        shutil.copy(m.path, folder / m.path.name)
    measured = []

    def fake_measure(ckpt, name, modes, log, data_root):
        measured.append(name)
        return [{"model": name, "mode": mode, "set": "single", "classes": "0", "sign": "+", "strength": 1.0,
                 "A_F_before": 1.0, "A_F_after": 0.0, "A_R_before": 0.9, "A_R_after": 0.9, "retain_drop": 0.0,
                 "E_F": 100.0, "seconds": 0.1, "passed": True} for mode in modes]

    monkeypatch.setattr(remake, "measure", fake_measure)
    csv_path, md_path = tmp_path / "table.csv", tmp_path / "table.md"
    kw = dict(folder=folder, csv_path=csv_path, md_path=md_path, write_default=False, log=lambda m: None)
    rows = remake.make_table(**kw)
    assert sorted(measured) == sorted(m.name for m in small) and len(rows) == 2 * len(MODES)
    measured.clear()
    rows = remake.make_table(**kw, names=[small[0].name], modes=[DEFAULT_MODE])
    assert measured == [small[0].name]
    assert {r["model"] for r in rows} == {m.name for m in small}  # the other model kept its rows
    assert (folder / f"{small[0].name}.md").is_file() and "Forgetting table" in md_path.read_text()
