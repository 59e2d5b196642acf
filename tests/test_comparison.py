"""Every method under one name, and the rows that compare them."""
import pytest

from conftest import state_hash
from unlearning import comparison
from unlearning.methods.baselines import SGDSettings
from unlearning.evaluation.metrics import evaluate

FORGET = [0]


@pytest.mark.parametrize("method", comparison.NO_TRAINING)
def test_run_and_measure_the_quick_methods(method, digits, digits_mlp):
    fingerprint = state_hash(digits_mlp.model)
    result = comparison.run(method, digits_mlp, digits, FORGET, device="cpu")
    row = comparison.measure(result, digits, device="cpu", method=method)
    assert state_hash(digits_mlp.model) == fingerprint
    ev = evaluate(result.model, digits.test, 10)
    assert row.method == method
    assert row.forget_accuracy == ev.forget_accuracy(FORGET) and row.retain_accuracy == ev.retain_accuracy(FORGET)
    assert row.seconds == result.seconds["total"]
    assert 0.0 <= row.mia <= 1.0 and 0.0 <= row.attack_accuracy <= 1.0
    assert set(row.to_dict()) == {"method", "seconds", "forget_accuracy", "retain_accuracy", "mia"}


def test_the_one_shot_row_is_called_mnemonic_and_forgets(digits, digits_mlp):
    seen = []
    result = comparison.run("mnemonic", digits_mlp, digits, FORGET, device="cpu",
                            progress=lambda f, m: seen.append(f))
    row = comparison.measure(result, digits, device="cpu", seconds=0.5)
    assert row.method == "mnemonic" and row.seconds == 0.5
    assert row.forget_accuracy <= 0.05
    assert seen[0] == 0.0 and seen[-1] == 1.0


def test_training_methods_pass_through_progress_and_settings(digits, digits_mlp):
    seen = []
    result = comparison.run("finetune", digits_mlp, digits, FORGET, device="cpu",
                            progress=lambda f, m: seen.append(f))
    assert result.mode == "finetune" and seen[-1] == 1.0
    assert set(comparison.TRAINING) | set(comparison.NO_TRAINING) == set(comparison.METHOD_NAMES)
    assert comparison.METHOD_NAMES[0] == "mnemonic" and "retrain" in comparison.TRAINING
    assert set(comparison.LABELS) == set(comparison.METHOD_NAMES)
    assert SGDSettings(epochs=1, lr=0.1).batch_size == 128


def test_unknown_method_is_refused(digits, digits_mlp):
    with pytest.raises(ValueError, match="unknown method"):
        comparison.run("magic", digits_mlp, digits, FORGET)


@pytest.mark.parametrize("mode", [None, "paper", "classifier"])
def test_the_one_shot_mode_is_the_backends_default_unless_asked(mode, digits, digits_mlp):
    result = comparison.run("mnemonic", digits_mlp, digits, FORGET, device="cpu", mode=mode)
    want = mode or comparison.default_mode()
    assert result.mode == want
    row = comparison.measure(result, digits, device="cpu")
    assert row.method == "mnemonic" and row.mode == want
