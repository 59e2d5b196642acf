"""Each baseline on the small digits MLP: it forgets in the expected direction and leaves its input alone."""
import pytest
import torch

from conftest import state_hash
from unlearning.methods.baselines import (
    DEFAULTS, VALIDATED, Cancelled, SGDSettings, family, recipe_from_meta, split_by_classes, ssd, ssd_importances,
)
from unlearning.methods.forgetting import ForgetResult
from unlearning.methods.registry import names, run_baseline
from unlearning.evaluation.metrics import evaluate

METHODS = names(one_shot=False)  # the baselines, as the registry lists them

FORGET = [0]
# The defaults were chosen for mnist5k's 3,150 remaining training digits (25 steps an epoch); the digits
# set has ~1,130 (9 steps), so the tests give each method about as many SGD steps as its default does there.
TINY = {
    "retrain": SGDSettings(epochs=40, lr=0.05),  # the fixture's own recipe
    "finetune": SGDSettings(epochs=10, lr=0.1),
    "neggrad+": SGDSettings(epochs=3, lr=0.05),
    "random-labels": SGDSettings(epochs=3, lr=0.01),
}


def _run(name, ckpt, digits, classes=FORGET, **kw):
    if name in TINY:
        kw.setdefault("settings", TINY[name])
    return run_baseline(name, ckpt, digits.train, classes, device="cpu", **kw)


@pytest.fixture(scope="module")
def before(digits, digits_mlp):
    return evaluate(digits_mlp.model, digits.test, 10)


@pytest.fixture(scope="module")
def runs(digits, digits_mlp):
    """Each gradient baseline's result for FORGET, computed once for the tests that read it."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = _run(name, digits_mlp, digits)
        return cache[name]
    return get


@pytest.mark.parametrize("name", ["retrain", "finetune", "neggrad+", "random-labels"])
def test_gradient_baselines_forget_the_class_and_keep_the_rest(name, digits, before, runs):
    res = runs(name)
    after = evaluate(res.model, digits.test, 10)
    assert before.forget_accuracy(FORGET) > 0.9
    assert after.forget_accuracy(FORGET) <= 0.2, f"{name} did not forget"
    assert after.retain_accuracy(FORGET) >= before.retain_accuracy(FORGET) - 0.1, f"{name} wrecked the rest"


def test_retraining_never_predicts_a_class_it_never_saw(digits, runs):
    res = runs("retrain")
    after = evaluate(res.model, digits.test, 10)
    assert after.forget_accuracy(FORGET) == 0.0
    assert after.confusion[:, 0].sum() == 0  # nothing at all is called "0"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_baseline_returns_a_forget_result_and_leaves_its_input_alone(name, digits, digits_mlp):
    fingerprint = state_hash(digits_mlp.model)
    res = _run(name, digits_mlp, digits, classes=[7, 2])
    assert isinstance(res, ForgetResult)
    assert res.mode == name and res.forget_classes == (2, 7) and res.device == "cpu"
    assert set(res.seconds) == {"total"} and res.seconds["total"] >= 0
    assert res.model is not digits_mlp.model and not res.model.training
    assert state_hash(digits_mlp.model) == fingerprint
    assert state_hash(res.model) != fingerprint or name == "ssd"  # SSD may find nothing to dampen
    assert res.notes


def test_ssd_dampens_exactly_the_selected_parameters(digits, digits_mlp):
    """theta <- theta * min(lambda * imp_D / imp_f, 1) where imp_f > alpha * imp_D, else unchanged."""
    model = digits_mlp.model
    alpha, lam = 2.0, 1.0
    _, forgotten = split_by_classes(digits.train, FORGET)
    imp_f = ssd_importances(model, forgotten.images, forgotten.labels, 64)
    imp_d = ssd_importances(model, digits.train.images, digits.train.labels, 64)
    res = ssd(model, digits.train, FORGET, alpha=alpha, lam=lam, device="cpu")
    new = dict(res.model.named_parameters())
    changed = 0
    for n, p in model.named_parameters():
        sel = imp_f[n] > alpha * imp_d[n]
        factor = torch.where(sel, (lam * imp_d[n] / imp_f[n]).clamp(max=1.0), torch.ones_like(p))
        torch.testing.assert_close(new[n].detach(), p.detach() * factor)
        assert (new[n].abs() <= p.abs()).all()  # dampening never grows a weight
        changed += int(sel.sum())
    assert changed > 0


def test_ssd_with_the_validated_alpha_forgets(digits, digits_mlp, before):
    res = _run("ssd-tuned", digits_mlp, digits)
    after = evaluate(res.model, digits.test, 10)
    assert after.forget_accuracy(FORGET) < before.forget_accuracy(FORGET) - 0.3


def test_progress_goes_from_zero_to_one(digits, digits_mlp, monkeypatch):
    import unlearning.methods.baselines as baselines

    monkeypatch.setattr(baselines, "PROGRESS_EVERY", 0.0)  # a callback after every step
    seen = []
    _run("finetune", digits_mlp, digits, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert len(fractions) > 10 and fractions[-1] == 1.0
    assert all(0.0 < a <= b <= 1.0 for a, b in zip(fractions, fractions[1:]))
    assert all(isinstance(m, str) and m for _, m in seen)


def test_time_spent_drawing_progress_is_not_the_methods(digits, digits_mlp, monkeypatch):
    """A slow progress bar must not make a baseline look slow: its callbacks are left out of seconds."""
    import time

    import unlearning.methods.baselines as baselines

    monkeypatch.setattr(baselines, "PROGRESS_EVERY", 0.0)
    calls = []

    def slow_bar(fraction, message):
        calls.append(fraction)
        time.sleep(0.02)

    t0 = time.perf_counter()
    res = _run("ssd", digits_mlp, digits, progress=slow_bar)
    wall = time.perf_counter() - t0
    assert len(calls) > 5
    assert res.seconds["total"] <= wall - 0.02 * (len(calls) - 1)  # all but the final call happen inside


@pytest.mark.parametrize("name", sorted(METHODS))
def test_should_stop_cancels(name, digits, digits_mlp):
    fingerprint = state_hash(digits_mlp.model)
    with pytest.raises(Cancelled):
        _run(name, digits_mlp, digits, should_stop=lambda: True)
    assert state_hash(digits_mlp.model) == fingerprint


def test_retrain_follows_the_checkpoint_recipe(digits_mlp):
    settings, t_mix, seed = recipe_from_meta(digits_mlp.meta)
    assert (settings.epochs, settings.lr, settings.schedule, t_mix, seed) == (40, 0.05, "constant", 0.1, 0)
    cosine = {**digits_mlp.meta, "training": {**digits_mlp.meta["training"], "schedule": "cosine"}}
    assert recipe_from_meta(cosine)[0].schedule == "cosine"


def test_a_cosine_recipe_anneals_the_learning_rate(digits, digits_mlp, monkeypatch):
    """Retraining repeats a cosine schedule: the lr seen by the last epoch's steps is near zero."""
    lrs = []
    real_step = torch.optim.SGD.step

    def spy(self, *args, **kwargs):
        lrs.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", spy)
    _run("retrain", digits_mlp, digits, settings=SGDSettings(epochs=4, lr=0.1, schedule="cosine"))
    assert lrs[0] == pytest.approx(0.1) and lrs[-1] < 0.02 and sorted(lrs, reverse=True) == lrs


def test_bad_requests_are_refused(digits, digits_mlp):
    with pytest.raises(ValueError, match="unknown baseline"):
        run_baseline("magic", digits_mlp, digits.train, FORGET)
    with pytest.raises(ValueError, match="at least one"):
        _run("finetune", digits_mlp, digits, classes=[])
    with pytest.raises(ValueError, match="every class"):
        _run("ssd", digits_mlp, digits, classes=list(range(10)))
    with pytest.raises(ValueError, match="beta"):
        _run("neggrad+", digits_mlp, digits, beta=1.5)
    with pytest.raises(ValueError, match="epochs"):
        SGDSettings(epochs=0, lr=0.1)
    with pytest.raises(ValueError, match="schedule"):
        SGDSettings(epochs=1, lr=0.1, schedule="step")


def test_defaults_are_written_down():
    assert set(DEFAULTS) == {"finetune", "neggrad+", "random-labels"}
    assert set(VALIDATED) == {"mlp", "conv"}


def test_each_family_gets_its_own_validated_settings(digits, digits_mlp, digits_cnn):
    assert family(digits_mlp.model) == "mlp" and family(digits_cnn.model) == "conv"
    for ckpt, fam in ((digits_mlp, "mlp"), (digits_cnn, "conv")):
        want = VALIDATED[fam]
        res = run_baseline("neggrad+", ckpt, digits.train, FORGET, device="cpu")
        assert res.notes == (f"NegGrad+: beta {want.neggrad_beta:g}, {want.neggrad.epochs} epochs, "
                             f"lr {want.neggrad.lr:g}",)
        res = run_baseline("ssd-tuned", ckpt, digits.train, FORGET, device="cpu")
        assert res.notes[0].startswith(f"SSD: alpha {want.ssd_alpha:g}, lambda 1;")
