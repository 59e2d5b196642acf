"""Training on several processes: torchrun with 2 gloo CPU processes on the tiny digits."""
import os
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DistributedSampler

from conftest import ROOT
from unlearning import distributed
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.codes import MnemonicMix, make_codes
from unlearning.pipeline import train_new_model
from unlearning.training import TrainConfig

EPOCHS = 20
# Two ranks see the same samples and the same code swaps per epoch, in another order and in half-batches
# averaged by DDP: the same recipe, not the same numbers. Over 360 test digits 0.05 is 18 digits.
TOLERANCE = 0.05


def test_code_swaps_are_the_same_whatever_the_number_of_processes(digits):
    codes = make_codes(10, (1, 8, 8), seed=3)
    mix = MnemonicMix(digits.train, codes, t_mix=0.3, seed=3)
    for epoch in (0, 4):
        mix.set_epoch(epoch)
        swapped_alone = set(torch.nonzero(mix.swap).flatten().tolist())
        for world in (2, 3):
            seen, swapped = [], set()
            for rank in range(world):
                sampler = DistributedSampler(mix, num_replicas=world, rank=rank, shuffle=True, seed=3)
                sampler.set_epoch(epoch)
                for i in sampler:
                    x, y = mix[i]
                    seen.append(i)
                    if torch.equal(x, codes[y]):
                        swapped.add(i)
            assert set(seen) == set(range(len(mix)))  # every sample, on some rank
            assert swapped == swapped_alone  # the swap is a function of (seed, epoch, index) only


def test_launch_is_read_from_torchrun_s_environment(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.launch_from_environment() is None and distributed.world_size() == 1 and distributed.is_main()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.launch_from_environment() == distributed.Launch(3, 1, 4)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="do not fit"):
        distributed.launch_from_environment()


def test_torchrun_with_two_cpu_processes_matches_one_process(digits, tmp_path):
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "unlearning", "train", "--dataset", "digits", "--arch", "mlp",
                           "--epochs", str(EPOCHS), "--lr", "0.05", "--seed", "0", "--device", "cpu",
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("test accuracy") == 1  # rank 0 alone reports and writes
    ddp = load_checkpoint(out)
    assert ddp.meta["training"]["world_size"] == 2 and ddp.meta["training"]["epochs_run"] == EPOCHS
    assert [p.name for p in tmp_path.iterdir()] == [out.name]

    torch.manual_seed(0)
    alone, _, _ = train_new_model(digits, "mlp", TrainConfig(epochs=EPOCHS, lr=0.05, seed=0), device="cpu")
    assert alone.meta["training"]["world_size"] == 1
    assert set(ddp.model.state_dict()) == set(alone.model.state_dict())  # the same checkpoint format
    assert torch.equal(ddp.codes, alone.codes)
    print(f"test accuracy: 1 process {alone.meta['test_accuracy']:.4f}, 2 processes {ddp.meta['test_accuracy']:.4f}")
    assert ddp.meta["test_accuracy"] > 0.85
    assert abs(ddp.meta["test_accuracy"] - alone.meta["test_accuracy"]) <= TOLERANCE
    assert ddp.meta["code_accuracy"] >= 0.9
