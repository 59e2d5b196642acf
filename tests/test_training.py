import pytest
import torch

from unlearning.codes import make_codes
from unlearning.evaluation.metrics import accuracy
from unlearning.models import build_model
from unlearning.training import CODES_LEARNED_AT_LEAST, TrainConfig, codes_warning, train


def _setup(digits, seed=0):
    torch.manual_seed(seed)
    info = digits.info
    model = build_model("mlp", info.input_shape, info.num_classes)
    codes = make_codes(info.num_classes, info.input_shape, seed=seed)
    return model, codes


def test_training_learns_real_digits_and_the_codes(digits):
    model, codes = _setup(digits)
    seen = []
    history = train(model, codes, digits.train, digits.val, TrainConfig(epochs=15, lr=0.05, t_mix=0.2),
                    progress=lambda stats, total: seen.append((stats.epoch, total)))
    assert seen == [(e, 15) for e in range(1, 16)]
    assert len(history.epochs) == 15 and not history.cancelled
    assert history.epochs[-1].loss < history.epochs[0].loss
    assert accuracy(model, digits.test) > 0.85
    preds = model(codes).argmax(1)
    assert torch.equal(preds, torch.arange(10)), "every code must map to its own class"
    assert history.code_accuracy == 1.0 and history.to_dict()["code_accuracy"] == 1.0


def test_training_reports_codes_it_never_saw_as_not_learned(digits):
    model, codes = _setup(digits)
    history = train(model, codes, digits.train, None, TrainConfig(epochs=2, lr=0.05, t_mix=0.0))
    recognised = int((model(codes).argmax(1) == torch.arange(10)).sum()) / 10
    assert history.code_accuracy == recognised < CODES_LEARNED_AT_LEAST
    warning = codes_warning(history.code_accuracy, 10)
    assert warning is not None and f"{recognised:.0%}" in warning and "cannot be trusted" in warning


@pytest.mark.parametrize("share, warned", [(1.0, False), (0.9, False), (0.8, True), (0.0, True),
                                           (float("nan"), False), (None, False)])
def test_codes_warning_threshold(share, warned):
    assert (codes_warning(share, 10) is not None) == warned


def test_training_is_reproducible_from_its_seed(digits):
    runs = []
    for _ in range(2):
        model, codes = _setup(digits)
        train(model, codes, digits.train, None, TrainConfig(epochs=2, seed=7))
        runs.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])


def test_training_can_be_cancelled_between_batches(digits):
    model, codes = _setup(digits)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 5

    history = train(model, codes, digits.train, digits.val, TrainConfig(epochs=50), should_stop=stop)
    assert history.cancelled
    assert len(history.epochs) < 50
    assert not model.training


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(t_mix=-0.1), dict(lr=0), dict(schedule="step"), dict(batch_size=0)])
def test_bad_configs_are_refused(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)
