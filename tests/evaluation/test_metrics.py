import numpy as np
import pytest
import torch

from conftest import _ev
from unlearning.device import inference_batch
from unlearning.evaluation.metrics import (code_accuracies, confusion_matrix, evaluate, evaluation_from_logits,
                                forgetting_efficacy, predict)


def _logits_for(preds, classes):
    return torch.nn.functional.one_hot(torch.tensor(preds), classes).float()


def test_per_class_accuracy_confusion_and_groups():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    preds = [0, 1, 1, 1, 2, 0, 0, 2]
    ev = evaluation_from_logits(_logits_for(preds, 3), labels, 3)
    assert ev.per_class_accuracy == (0.5, 1.0, 0.5)
    assert ev.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [2, 0, 2]]
    assert ev.accuracy == pytest.approx(5 / 8)
    assert ev.forget_accuracy([2]) == pytest.approx(0.5)
    assert ev.retain_accuracy([2]) == pytest.approx(3 / 4)  # sample-weighted over classes 0 and 1
    assert ev.forget_accuracy([0, 2]) == pytest.approx(3 / 6)
    assert ev.summary([1]) == {"per_class_accuracy": [0.5, 1.0, 0.5], "forget_accuracy": 1.0,
                               "retain_accuracy": pytest.approx(3 / 6)}


def test_class_missing_from_the_split_is_nan_not_zero():
    ev = evaluation_from_logits(_logits_for([0, 0], 3), torch.tensor([0, 0]), 3)
    assert ev.per_class_accuracy[0] == 1.0 and np.isnan(ev.per_class_accuracy[1])


def test_efficacy_is_the_share_of_accuracy_removed():
    assert forgetting_efficacy(0.9, 0.0) == pytest.approx(100.0)
    assert forgetting_efficacy(0.8, 0.4) == pytest.approx(50.0)
    assert forgetting_efficacy(0.5, 0.6) == pytest.approx(-20.0)
    assert np.isnan(forgetting_efficacy(0.0, 0.0))


def test_batched_evaluation_matches_one_sample_at_a_time(digits, digits_mlp):
    ev = evaluate(digits_mlp.model, digits.test, 10, batch_size=64)
    x, y = digits.test.tensors()
    one_by_one = torch.stack([digits_mlp.model(x[i:i + 1])[0] for i in range(len(x))]).argmax(1)
    cm = confusion_matrix(torch.nn.functional.one_hot(one_by_one, 10).float(), y, 10)
    assert np.array_equal(ev.confusion, cm)
    assert ev.confusion.sum() == len(digits.test)


def test_the_default_batch_gives_the_logits_of_one_whole_batch(digits, digits_mlp):
    x, _ = digits.test.tensors()
    assert len(x) > inference_batch(torch.device("cpu"))  # so the default really splits it
    batched, _ = predict(digits_mlp.model, x, device="cpu")
    whole, _ = predict(digits_mlp.model, x, device="cpu", batch_size=len(x))
    assert torch.allclose(batched, whole, atol=1e-5)


def test_predict_accepts_tensors_and_generic_datasets(digits, digits_mlp):
    x, y = digits.test.tensors()
    logits, none = predict(digits_mlp.model, x[:10])
    assert none is None and logits.shape == (10, 10)
    ds = torch.utils.data.TensorDataset(x[:10], y[:10])
    logits2, labels = predict(digits_mlp.model, ds)
    torch.testing.assert_close(logits, logits2)
    assert torch.equal(labels, y[:10])


def test_code_accuracies_of_a_trained_model(digits_mlp):
    f, r = code_accuracies(digits_mlp.model, digits_mlp.codes, [2])
    assert (f, r) == (1.0, 1.0)


def test_a_model_on_another_device_is_evaluated_on_a_copy_and_never_moved(digits, digits_mlp, monkeypatch):
    """No second device here: pretend the run goes to the meta device and watch what gets copied."""
    import copy

    import unlearning.evaluation.metrics as m

    shared = copy.deepcopy(digits_mlp.model)
    copied = []
    real_deepcopy = copy.deepcopy
    monkeypatch.setattr(m.copy, "deepcopy", lambda obj, *memo: copied.append(obj) or real_deepcopy(obj, *memo))
    predict(shared, digits.test.tensors()[0][:4], device="cpu")
    assert copied == []  # same device: the model itself runs
    monkeypatch.setattr(m, "pick_device", lambda device=None: torch.device("meta"))
    try:
        predict(shared, digits.test.tensors()[0][:4])
    except (NotImplementedError, RuntimeError):
        pass  # running on the meta device is not the point; the copy is
    assert copied and copied[0] is shared
    assert next(shared.parameters()).device.type == "cpu"


def test_many_images_through_batch_norm_run_frozen_and_give_the_same_predictions(monkeypatch):
    """From FROZEN_FROM images on, a batch-normed conv net runs as a frozen copy: same predictions, the model
    itself untouched (still an nn.Module in eval mode, its weights unchanged)."""
    from unlearning.evaluation import metrics
    from unlearning.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet8", (1, 12, 12), 4)
    with torch.no_grad():  # non-trivial batch-norm statistics, so that folding them matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(300, 1, 12, 12)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    monkeypatch.setattr(metrics, "FROZEN_FROM", 10**9)
    plain, _ = metrics.predict(model, x, "cpu")
    frozen_runs = []
    original = metrics._frozen
    monkeypatch.setattr(metrics, "_frozen", lambda m, ex: frozen_runs.append(1) or original(m, ex))
    monkeypatch.setattr(metrics, "FROZEN_FROM", 200)
    fast, _ = metrics.predict(model, x, "cpu")
    assert frozen_runs == [1]
    assert isinstance(original(model, x[:8]), torch.jit.ScriptModule)  # it really is the frozen copy that ran
    assert torch.equal(fast.argmax(1), plain.argmax(1))
    assert torch.allclose(fast, plain, rtol=1e-3, atol=1e-4)
    assert not model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    monkeypatch.setattr(metrics, "FROZEN_FROM", 301)  # fewer images than that: the model itself runs
    frozen_runs.clear()
    metrics.predict(model, x, "cpu")
    assert frozen_runs == []


def test_retain_accuracy_can_leave_out_earlier_classes():
    ev = _ev([0.0, 0.5, 1.0, 1.0])  # class 0 forgotten earlier, forgetting 1 now
    assert ev.retain_accuracy([1]) == pytest.approx(2 / 3)  # the old call still counts class 0
    assert ev.retain_accuracy([1], exclude=[0]) == pytest.approx(1.0)
    assert ev.summary([1], [0])["retain_accuracy"] == pytest.approx(1.0)
