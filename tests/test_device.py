import pytest
import torch

from unlearning.device import available_devices, describe, inference_batch, pick_device


def test_best_device_comes_first_and_cpu_is_always_there():
    found = available_devices()
    assert found[-1] == "cpu"
    assert pick_device().type == found[0]
    assert pick_device("auto").type == found[0]
    if torch.cuda.is_available():
        assert found[0] == "cuda"


def test_the_caller_can_override_and_bad_names_are_refused():
    assert pick_device("cpu") == torch.device("cpu")
    assert describe(pick_device("cpu")) == "cpu"
    with pytest.raises((ValueError, RuntimeError)):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            pick_device("cuda")


def test_inference_batches_are_small_on_the_cpu_and_large_elsewhere():
    assert inference_batch(torch.device("cpu")) < inference_batch(torch.device("cuda"))
    assert inference_batch(torch.device("cpu")) >= 32
