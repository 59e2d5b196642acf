"""Mnemonic Unlearning: one-shot class forgetting with mnemonic codes (Yamashita et al., 2023).

The small public surface; everything else lives in one module per idea: flat where a module stands
alone (data, codes, models, training, device, inputs, pipeline, cli, ...), in a sub-package where a
family exists: ``storage/`` (checkpoints, safe IO, strict JSON, model folders), ``methods/`` (the
registry of every way to forget, forget(), each mode and baseline, the code Fisher), ``evaluation/``
(metrics, privacy, the depth audit, references) and ``zoo/`` (the shipped models). docs/architecture.md
draws the tree and its layers.
"""
__version__ = "0.1.0"

from .storage.checkpoints import Checkpoint, CheckpointError, load_checkpoint, read_meta, save_checkpoint
from .codes import MnemonicMix, make_codes
from .data import DataError, DatasetInfo, ImageTensors, Splits, load_dataset
from .device import pick_device
from .methods.fisher import code_fisher
from .methods.forgetting import ForgetResult, forget
from .evaluation.metrics import Evaluation, evaluate, forgetting_efficacy
from .models import ModelError, build_model
from .pipeline import ForgetOutcome, default_lambdas, forget_and_evaluate, train_new_model
from .storage.safe_io import WriteError
from .training import TrainConfig, TrainHistory, train

__all__ = [
    "Checkpoint", "CheckpointError", "DataError", "DatasetInfo", "Evaluation", "ForgetOutcome", "ForgetResult",
    "ImageTensors", "MnemonicMix", "ModelError", "Splits", "TrainConfig", "TrainHistory", "build_model",
    "code_fisher", "default_lambdas", "evaluate", "forget", "forget_and_evaluate", "forgetting_efficacy",
    "load_checkpoint", "load_dataset", "make_codes", "pick_device", "read_meta", "save_checkpoint", "train",
    "train_new_model", "WriteError",
]
