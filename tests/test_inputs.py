"""unlearning/inputs: class lists, codes and weights are checked strictly before any forgetting."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from unlearning.methods.forgetting import forget
from unlearning.inputs import check_classes, check_codes, class_index, model_dtype
from unlearning.evaluation.metrics import evaluate


@pytest.mark.parametrize("classes, words", [
    ([2.7], "got 2.7"), ([True], "boolean"), ([np.True_], "boolean"), ([torch.tensor(True)], "boolean"),
    ("29", "got the string '29'"), (3, "a list of class indices"), (["3"], "got the string '3'"),
    ([None], "got None"), ([], "at least one"), ([10], "unknown class index 10"),
])
def test_class_lists_are_integers_only(classes, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        check_classes(classes, 10)


def test_class_lists_accept_integer_kinds_and_names():
    assert check_classes([np.int64(3), torch.tensor(1), 3], 10) == [1, 3]
    assert check_classes(torch.tensor([4, 2]), 10) == [2, 4]
    assert check_classes(["cat", 0], 3, names=["dog", "cat", "bird"]) == [0, 1]
    assert class_index("7", [str(i) for i in range(10)]) == 7
    for token in ("2.5", "-1", " 3", "3e0", "٣"):
        with pytest.raises(ValueError, match="unknown class"):
            class_index(token, [str(i) for i in range(10)])


def test_codes_must_fit_the_model(digits_mlp):
    model, codes = digits_mlp.model, digits_mlp.codes
    cases = [(codes[:9], "10 outputs but there are 9 codes"), ((codes * 255).to(torch.uint8), "floating point"),
             (torch.rand(10, 1, 9, 9), "do not fit"), (codes.clone().fill_(float("nan")), "NaN"),
             (codes.numpy(), "torch.Tensor")]
    for bad, words in cases:
        with pytest.raises(ValueError, match=words):
            forget(model, bad, [3], device="cpu")
    assert check_codes(model, codes.double()).dtype == torch.float32  # the codes follow the model


def test_integer_weights_are_refused_by_the_library(digits_mlp):
    model = copy.deepcopy(digits_mlp.model)
    model.net.fc2.weight = torch.nn.Parameter(model.net.fc2.weight.data.to(torch.int32), requires_grad=False)
    with pytest.raises(ValueError, match="floating-point weights"):
        model_dtype(model)
    with pytest.raises(ValueError, match="floating-point weights"):
        forget(model, digits_mlp.codes, [3], device="cpu")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_model_is_forgotten_in_float32(dtype, digits, digits_mlp):
    half = copy.deepcopy(digits_mlp.model).to(dtype)
    original = {k: v.clone() for k, v in half.state_dict().items()}
    before = evaluate(half, digits.test, 10, device="cpu")  # evaluation feeds it images of its own dtype
    result = forget(half, digits_mlp.codes, [3], device="cpu", mode="classifier")
    assert next(result.model.parameters()).dtype == torch.float32
    assert any("float32" in n for n in result.notes)
    assert all(torch.equal(v, original[k]) and v.dtype == dtype for k, v in half.state_dict().items())
    after = evaluate(result.model, digits.test, 10, device="cpu")
    assert before.forget_accuracy([3]) > 0.5 and after.forget_accuracy([3]) < before.forget_accuracy([3])
