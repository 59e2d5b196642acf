"""The method registry: one description per method, one way to run any of them, and the views read from it."""
import pytest
import torch

from conftest import state_hash
from unlearning import comparison
from unlearning.methods import forgetting, registry as methods
from unlearning.methods.baselines import Cancelled
from unlearning.methods.forgetting import forget
from unlearning.methods.registry import CODES, REGISTRY, TRAINING, VALIDATION, ForgetRequest

FORGET = [0]


def test_every_method_is_described_once_and_completely():
    assert list(REGISTRY) == [m.name for m in REGISTRY.values()]
    for m in REGISTRY.values():
        assert m.label and m.short and m.description and "\n" not in m.description
        assert m.reads and m.reads <= {CODES, VALIDATION, TRAINING}
        assert callable(m.run)
        assert m.one_shot == (TRAINING not in m.reads)  # a one-shot mode never reads the training images
        assert not (m.trains and m.one_shot)
    assert [m.name for m in REGISTRY.values() if m.lambdas] == [m.name for m in REGISTRY.values() if m.published] == ["paper"]
    assert methods.is_published(None) and not methods.is_published("erase")
    assert methods.DEFAULT_MODE in methods.names(one_shot=True)


def test_the_old_names_are_views_of_the_registry():
    """forgetting.MODES, NEEDS_VALIDATION and Compare's lists say what the registry says, in its order."""
    assert list(forgetting.MODES) == list(methods.names(one_shot=True))
    assert forgetting.NEEDS_VALIDATION == {n for n, m in REGISTRY.items() if m.one_shot and VALIDATION in m.reads}
    assert comparison.METHOD_NAMES == ("mnemonic", *methods.names(one_shot=False))
    assert set(comparison.NO_TRAINING) == {"mnemonic", "ssd", "ssd-tuned"}
    assert comparison.LABELS["ssd"] == REGISTRY["ssd"].label and comparison.SHORT_LABELS["ssd"] == REGISTRY["ssd"].short
    assert methods.takes_lambdas(None) and methods.takes_lambdas("paper") and not methods.takes_lambdas("erase")
    assert methods.reads_validation("erase") and not methods.reads_validation("paper")
    assert not methods.reads_validation("no-such-method")


def test_unknown_names_are_refused_with_the_list():
    with pytest.raises(ValueError, match="unknown method 'magic'.*paper"):
        methods.get("magic")


@pytest.mark.parametrize("name", ["paper", "erase", "ssd"])
def test_one_run_for_every_kind_of_method_reports_progress_and_leaves_the_model_alone(name, digits, digits_mlp):
    seen: list[float] = []
    before = state_hash(digits_mlp.model)
    result = methods.run(ForgetRequest(name, digits_mlp.model, FORGET, codes=digits_mlp.codes,
                                       validation=digits.val, training=digits.train, meta=digits_mlp.meta,
                                       device="cpu", progress=lambda f, msg: seen.append(f)))
    assert result.mode == name and list(result.forget_classes) == FORGET
    assert seen and seen[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in seen)
    assert state_hash(digits_mlp.model) == before


@pytest.mark.parametrize("name", ["classifier", "finetune"])
def test_a_stop_request_cancels_one_shot_modes_and_baselines_alike(name, digits, digits_mlp):
    with pytest.raises(Cancelled):
        methods.run(ForgetRequest(name, digits_mlp.model, FORGET, codes=digits_mlp.codes, training=digits.train,
                                  device="cpu", should_stop=lambda: True))


def test_a_baseline_without_training_images_is_a_clear_error(digits_mlp):
    with pytest.raises(ValueError, match="reads the training images"):
        methods.run(ForgetRequest("finetune", digits_mlp.model, FORGET))


def test_forget_goes_through_the_registry_and_gives_what_run_gives(digits, digits_mlp):
    via_forget = forgetting.forget(digits_mlp.model, digits_mlp.codes, FORGET, mode="classifier", device="cpu")
    via_run = methods.run(ForgetRequest("classifier", digits_mlp.model, FORGET, codes=digits_mlp.codes, device="cpu"))
    for a, b in zip(via_forget.model.parameters(), via_run.model.parameters()):
        torch.testing.assert_close(a, b)


def test_one_default_mode_everywhere_and_the_paper_rule_by_name(digits, digits_mlp):
    import inspect

    from unlearning import cli, comparison, pipeline
    from unlearning.methods.forgetting import DEFAULT_MODE

    assert DEFAULT_MODE == "erase"
    assert inspect.signature(forget).parameters["mode"].default == DEFAULT_MODE
    assert inspect.signature(pipeline.forget_and_evaluate).parameters["mode"].default == DEFAULT_MODE
    assert comparison.default_mode() == DEFAULT_MODE
    forget_parser = cli.build_parser()._subparsers._group_actions[0].choices["forget"]
    assert forget_parser.get_default("mode") == DEFAULT_MODE
    a = forget(digits_mlp.model, digits_mlp.codes, [2], device="cpu", calibration=digits.val)
    b = forget(digits_mlp.model, digits_mlp.codes, [2], mode="paper", device="cpu")
    assert a.mode == "erase" and b.mode == "paper"
    with pytest.raises(ValueError, match="validation images"):
        forget(digits_mlp.model, digits_mlp.codes, [2], device="cpu")
