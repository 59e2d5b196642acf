"""Time the code Fisher three ways: the reference's per-class loop, vmap(grad) and the batched path.

    python benchmarks/fisher_speed.py                      # MLP, CNN, ResNet-18; 10 and 100 classes; CPU
    python benchmarks/fisher_speed.py --device cuda
    python benchmarks/fisher_speed.py --models mlp cnn --classes 10 --repeats 5
    python benchmarks/fisher_speed.py --device cuda --models tv:resnet18 --size 224 --classes 100 1000

``--models`` takes any architecture name of ``unlearning.models`` (``vit``, ``tv:resnet18``, ...); the
input is 1x28x28 for the digit models, 3x32x32 otherwise, or 3 x size x size with ``--size``
(synthetic inputs: the codes themselves, uniform noise of that shape).

- loop: ``fisher.code_fisher_loop``, one forward/backward per class, as the reference code does
  (it works on a copy of the model; the copy is part of its time);
- vmap: ``code_fisher(strategy="vmap")``, per-sample gradients of every parameter with
  ``torch.func.vmap(grad(...))``, squared and summed chunk by chunk;
- batched: ``code_fisher()``, the default: closed-form sums for linear, convolution and batch-norm
  layers from one batched forward/backward per chunk (``unlearning.methods.sqgrad``), vmap for the rest.

Models are freshly initialised (the Fisher's cost does not depend on the weights), in eval mode,
with batch-norm running statistics set by one forward pass. Each timing is the median of
``--repeats`` calls after one warm-up call. The last column is the largest ||F - F_loop|| / ||F_loop||
of the batched and vmap results over every parameter tensor: they compute the same numbers.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from unlearning.codes import make_codes  # noqa: E402
from unlearning.device import describe, pick_device, synchronize  # noqa: E402
from unlearning.methods.fisher import code_fisher, code_fisher_loop  # noqa: E402
from unlearning.models import build_model, count_parameters  # noqa: E402

SHAPES = {"mlp": (1, 28, 28), "cnn": (1, 28, 28), "resnet18": (3, 32, 32)}  # the default rows
DIGIT_MODELS = ("mlp", "cnn", "vit")


def input_shape(arch: str, size: int | None) -> tuple[int, int, int]:
    """1x28x28 for the digit models, 3x32x32 for the others; 3 x size x size when a size is given."""
    if size:
        return (3, size, size)
    return SHAPES.get(arch, (1, 28, 28) if arch in DIGIT_MODELS else (3, 32, 32))


def median_seconds(fn, repeats: int, device: torch.device) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(max(repeats, 1)):
        synchronize(device)
        t0 = time.perf_counter()
        out = fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def agree(a, b) -> float:
    """Largest relative difference ||a - b|| / ||b|| between two FisherPairs, over both halves and all
    tensors. (Element by element, the smallest entries of deep conv layers, 1e-5 of a tensor's largest,
    differ by up to tens of percent between any two float32 routes, the loop included: rounding.)"""
    worst = 0.0
    for x, y in ((a.forget, b.forget), (a.remain, b.remain)):
        for n in y:
            ref = y[n].double().cpu()
            worst = max(worst, float((x[n].double().cpu() - ref).norm() / ref.norm().clamp_min(1e-300)))
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--models", nargs="+", default=list(SHAPES),
                    help="architecture names (default: mlp cnn resnet18); any name build_model takes")
    ap.add_argument("--size", type=int, default=None, help="square 3-channel inputs of this side (e.g. 224)")
    ap.add_argument("--classes", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"{describe(device)}, {torch.get_num_threads()} CPU threads, chunk {args.chunk_size}, "
          f"median of {args.repeats} after a warm-up; forget class 0\n")
    print("| model | input | classes | parameters | loop s | vmap s | batched s | loop / batched | loop / vmap "
          "| max rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arch in args.models:
        for k in args.classes:
            torch.manual_seed(0)
            shape = input_shape(arch, args.size)
            model = build_model(arch, shape, k)
            model.train()
            with torch.no_grad():
                model(torch.rand(8, *shape))
            model = model.to(device).eval()
            codes = make_codes(k, shape, seed=0).to(device)
            t_loop, f_loop = median_seconds(lambda: code_fisher_loop(model, codes, [0], device=device),
                                            args.repeats, device)
            t_vmap, f_vmap = median_seconds(lambda: code_fisher(model, codes, [0], device=device,
                                                                chunk_size=args.chunk_size, strategy="vmap"),
                                            args.repeats, device)
            t_fast, f_fast = median_seconds(lambda: code_fisher(model, codes, [0], device=device,
                                                                chunk_size=args.chunk_size),
                                            args.repeats, device)
            diff = max(agree(f_fast, f_loop), agree(f_vmap, f_loop))
            print(f"| {arch} | {'x'.join(map(str, shape))} | {k} | {count_parameters(model):,} | {t_loop:.4f} | {t_vmap:.4f} | {t_fast:.4f} "
                  f"| {t_loop / t_fast:.1f}x | {t_loop / t_vmap:.1f}x | {diff:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
