import math

import pytest

from conftest import _ev
from unlearning.pipeline import default_lambdas, forget_and_evaluate, forgotten_meta, verdict


@pytest.mark.parametrize("after, forgot, kept, word", [
    ([0.0, 0.9, 0.9], True, True, "Forgotten at the outputs:"),
    ([0.5, 0.9, 0.9], False, True, "Not forgotten"),
    ([0.0, 0.5, 0.5], True, False, "at a cost"),
    ([0.5, 0.5, 0.5], False, False, "Failed"),
])
def test_verdict_is_judged_on_real_accuracy(after, forgot, kept, word):
    v = verdict(_ev([0.9, 0.9, 0.9]), _ev(after), [0])
    assert (v.forgot, v.kept) == (forgot, kept)
    assert word in v.message


def test_default_lambdas_follow_the_paper():
    assert default_lambdas("mlp") == (1e-3, 10.0)
    assert default_lambdas("resnet18") == (1e-5, 1e4)


def test_forget_and_evaluate_measures_on_the_test_split(digits, digits_mlp):
    out = forget_and_evaluate(digits_mlp, digits.test, [0])
    assert out.before.confusion.sum() == out.after.confusion.sum() == len(digits.test)
    d = out.to_dict()
    assert d["E_F"] == pytest.approx(out.efficacy)
    assert d["after"]["forget_accuracy"] == out.after.forget_accuracy([0])
    outputs_forgot = out.after.forget_accuracy([0]) <= 0.02
    assert d["verdict"]["outputs"]["forgot"] == outputs_forgot
    assert d["verdict"]["forgot"] is (None if outputs_forgot else False)  # no depth check: depth unknown
    meta = forgotten_meta(digits_mlp, out)
    assert meta["forgotten"]["forget_classes"] == [0] and meta["test_accuracy"] == out.after.accuracy


def test_the_jsons_one_verdict_includes_depth(digits, digits_mlp):
    """Issue 21: the top-level verdict said forgot=true while depth.verdict.level said "hidden"."""
    from dataclasses import replace
    from types import SimpleNamespace

    from unlearning.evaluation.audit import DepthVerdict

    out = forget_and_evaluate(digits_mlp, digits.test, [0])
    forced = replace(out, verdict=replace(out.verdict, forgot=True, kept=True))
    for level, forgot in (("hidden", False), ("forgotten", True), ("unknown depth", None)):
        depth = SimpleNamespace(verdict=DepthVerdict(level, f"{level}: because.", level == "forgotten"),
                                to_dict=lambda: {})
        v = replace(forced, depth=depth).to_dict()["verdict"]
        assert (v["level"], v["forgot"]) == (level, forgot)
        assert v["message"].startswith(f"{level}: because.") and v["outputs"]["forgot"] is True


def test_training_records_the_code_accuracy_and_forgetting_warns_when_codes_were_not_learned(digits, digits_mlp):
    from unlearning.storage.checkpoints import validate_meta
    from unlearning.pipeline import train_new_model, untrusted_codes
    from unlearning.training import TrainConfig

    assert digits_mlp.meta["code_accuracy"] >= 0.9 and untrusted_codes(digits_mlp) is None
    assert not any(n.startswith("warning:") for n in forget_and_evaluate(digits_mlp, digits.test, [0]).result.notes)
    blind, history, _ = train_new_model(digits, "mlp", TrainConfig(epochs=2, t_mix=0.0, seed=0, lr=0.05))
    assert validate_meta(blind.meta)["code_accuracy"] == history.code_accuracy < 0.9
    out = forget_and_evaluate(blind, digits.test, [0])
    assert out.result.notes[0].startswith("warning: the model recognises only")
    assert "code_accuracy" not in forgotten_meta(blind, out)  # the forgotten model's codes are another story


def test_forget_and_evaluate_takes_names_and_notes_ignored_lambdas(digits, digits_mlp):
    out = forget_and_evaluate(digits_mlp, digits.test, ["3"], mode="classifier", lambda1=0.5, device="cpu")
    assert out.result.forget_classes == (3,)
    assert any("lambda1=0.5 ignored" in n for n in out.to_dict()["notes"])
    plain = forget_and_evaluate(digits_mlp, digits.test, [3], mode="classifier", device="cpu")
    assert not any("ignored" in n for n in plain.to_dict()["notes"])


def test_a_class_never_recognised_is_not_called_forgotten():
    v = verdict(_ev([0.0, 0.9, 0.9]), _ev([0.0, 0.9, 0.9]), [0])
    assert not v.forgot and not v.recognised and v.message.startswith("Never recognised")
    assert "Forgotten" not in v.message


def test_no_change_is_never_minus_zero_points():
    v = verdict(_ev([0.9, 0.9, 0.9]), _ev([0.0, 0.9, 0.9]), [0])
    assert "-0.0" not in v.message and "kept their accuracy" in v.message and v.forgot and v.kept


def test_forgotten_metadata_carries_the_union(digits, digits_mlp):
    first = forget_and_evaluate(digits_mlp, digits.test, [2, 9], mode="classifier", device="cpu")
    from unlearning.storage.checkpoints import Checkpoint, complete_meta

    child = Checkpoint(first.result.model, digits_mlp.codes, complete_meta(forgotten_meta(digits_mlp, first)))
    second = forget_and_evaluate(child, digits.test, [5], mode="classifier", device="cpu")
    assert second.previously_forgotten == (2, 9) and second.forgotten_so_far == (2, 5, 9)
    meta = forgotten_meta(child, second)
    assert meta["forgotten"]["all_forgotten"] == [2, 5, 9] and meta["forgotten"]["forget_classes"] == [5]
    assert math.isclose(second.to_dict()["before"]["retain_accuracy"], first.after.retain_accuracy([5], [2, 9]))
    with pytest.raises(ValueError, match="would leave no class"):
        forget_and_evaluate(child, digits.test, [0, 1, 3, 4, 5, 6, 7, 8], mode="classifier", device="cpu")


def test_the_pipeline_calibrates_on_the_validation_split_by_default(digits, digits_mlp):
    meta = dict(digits_mlp.meta)
    out = forget_and_evaluate(digits_mlp, digits.test, [8], mode="calibrated", device="cpu")
    explicit = forget_and_evaluate(digits_mlp, digits.test, [8], mode="calibrated", calibration=digits.val,
                                   device="cpu")
    assert digits_mlp.meta == meta
    assert out.result.strength == explicit.result.strength
    assert out.result.calibration["images"] == len(digits.val)
    d = out.to_dict()
    assert d["mode"] == "calibrated" and d["layer"] == "net.fc2" and d["strength"] == out.result.strength


def test_the_after_evaluation_reads_the_trunk_and_agrees_with_the_full_pass(digits, digits_cnn):
    """The erase run edits the CNN's head only: with a trunk, only the head runs, and the numbers are the full pass's."""
    import copy

    from unlearning.evaluation import trunk

    built = []

    def trunk_for(edited):
        changed = trunk.changed_names(digits_cnn.model, edited)
        built.append(trunk.build(digits_cnn.model, digits.test, changed))
        return built[-1]

    with_trunk = forget_and_evaluate(copy.deepcopy(digits_cnn), digits.test, [3], mode="erase", trunk=trunk_for)
    plain = forget_and_evaluate(copy.deepcopy(digits_cnn), digits.test, [3], mode="erase")
    assert built[0] is not None and built[0].covers(with_trunk.result.model, digits.test)
    assert all(n.startswith("net.head.") for n in built[0].changed)  # so the features were read, not recomputed
    assert with_trunk.after.confusion.tolist() == plain.after.confusion.tolist()
