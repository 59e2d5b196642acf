"""The experiments behind the forgetting modes (docs/zoo.md), on the VALIDATION split only.

    python benchmarks/mode_study.py fit        # how well each zoo model fits its codes (the residuals)
    python benchmarks/mode_study.py variants   # where to perturb and how to scale: best point on a strength grid
    python benchmarks/mode_study.py layers     # which layer's code Fisher transfers to real digits
    python benchmarks/mode_study.py safety     # strength rules, chosen on one half of validation, checked on the other
    python benchmarks/mode_study.py recipes    # training recipes (trains into --cache, ~15 min on one core)

The test split is never read here: every choice in the modes was made from these numbers.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unlearning.zoo import shipped, table, targets  # noqa: E402
from unlearning.storage.checkpoints import load_checkpoint  # noqa: E402
from unlearning.data import ImageTensors, load_dataset  # noqa: E402
from unlearning.methods.fisher import FisherPair, code_fisher  # noqa: E402
from unlearning.methods.forgetting import (  # noqa: E402
    CODE_SAFETY, VAL_SAFETY, classifier_fisher, classifier_layer, fisher_ratio, forget,
)
from unlearning.evaluation.metrics import evaluation_from_logits  # noqa: E402
from unlearning.pipeline import default_lambdas, train_new_model  # noqa: E402
from unlearning.training import TrainConfig  # noqa: E402

SPLITS = load_dataset("mnist5k", seed=0)
VX, VY = SPLITS.val.tensors()
SETS = [list(s) for _, s in table.class_sets()]
COARSE = [10 ** (k / 2) for k in range(-8, 5)]  # 1e-4 .. 1e2, for whole-network variants (a forward pass each)
FINE = [10 ** (k / 8) for k in range(-24, 33)]  # the modes' own grid, for classifier-layer variants


def passes(classes, af, drop):
    return targets.row_passes("single" if len(classes) == 1 else "set", af, drop)


@torch.no_grad()
def val_eval(model, x=VX, y=VY):
    return evaluation_from_logits(model.eval()(x), y, 10)


def zoo_models():
    return [(m.name, m.load()) for m in shipped.list_zoo()]


def cmd_fit(_):
    print("| model | codes: 1 - p(own class), min .. max | ratio max/min of the squared residual "
          "| val digits: median 1 - p |")
    print("|---|---|---|---|")
    for name, ck in zoo_models():
        with torch.no_grad():
            p = torch.softmax(ck.model(ck.codes), 1).diagonal()
            pv = torch.softmax(ck.model(VX), 1)[torch.arange(len(VY)), VY]
        res = (1 - p.double()).clamp_min(1e-12)
        print(f"| {name} | {float(res.min()):.1e} .. {float(res.max()):.1e} | {float((res.max() / res.min()) ** 2):.0f} "
              f"| {float((1 - pv).median()):.1e} |")
    print("\nDoes the Fisher ratio of the classifier layer point at the forgotten class? For each single class c: "
          "is bias c the largest bias ratio, and what share of the weight ratio lies in row c.\n")
    print("| model | Fisher | bias c is the top ratio | share of the weight ratio in row c: min .. median |")
    print("|---|---|---|---|")
    for name, ck in zoo_models():
        head, layer = classifier_layer(ck.model, ck.codes[:1])
        feats = {}
        h = layer.register_forward_hook(lambda mod, a, o: feats.__setitem__("h", a[0].detach()))
        with torch.no_grad():
            ck.model(ck.codes)
        h.remove()
        for label in ("plain loss (paper)", "centred logit"):
            top, shares = 0, []
            for c in range(10):
                if label.startswith("plain"):
                    f = code_fisher(ck.model, ck.codes, [c], device="cpu")
                    rb = fisher_ratio(f.forget[f"{head}.bias"], f.remain[f"{head}.bias"])
                    rw = fisher_ratio(f.forget[f"{head}.weight"], f.remain[f"{head}.weight"])
                else:
                    f = classifier_fisher(feats["h"], 10, [c])
                    rb, rw = fisher_ratio(f.forget["bias"], f.remain["bias"]), fisher_ratio(f.forget["weight"], f.remain["weight"])
                top += int(rb.argmax()) == c
                shares.append(float(rw[c].sum() / rw.sum()))
            print(f"| {name} | {label} | {top}/10 | {min(shares):.2f} .. {statistics.median(shares):.2f} |")


class Tempered(torch.nn.Module):
    def __init__(self, model, t):
        super().__init__()
        self.m, self.t = model, t

    def forward(self, x):
        return self.m(x) / self.t


def whole_ratios(model, codes, classes, temperature):
    """Per-tensor Fisher ratios over every parameter; temperature None = the paper's plain loss."""
    if temperature is None:
        f = code_fisher(model, codes, classes, device="cpu")
    else:
        g = code_fisher(Tempered(model, temperature), codes, classes, device="cpu")
        f = FisherPair({k[2:]: v for k, v in g.forget.items()}, {k[2:]: v for k, v in g.remain.items()})
    return {n: fisher_ratio(f.forget[n], f.remain[n]) for n, _ in model.named_parameters()}


def scaled(model, ratios, scaling, names=None):
    names = [n for n in ratios if names is None or n in names]
    if scaling == "tensor":
        return {n: ratios[n] / ratios[n].max() for n in names}
    top = max(float(ratios[n].max()) for n in names)
    return {n: ratios[n] / top for n in names}


def moved(model, unit, alpha):
    out = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in out.named_parameters():
            if n in unit:
                p.add_(unit[n], alpha=alpha)
    return out.eval()


def best_on_grid(model, unit, classes, grid):
    """The best validation point over both signs and the grid: (A_F, drop) maximising (1 - A_F) + A_R."""
    base = val_eval(model)
    ar0 = base.retain_accuracy(classes)
    best = None
    for sign in (-1.0, 1.0):
        for a in grid:
            e = val_eval(moved(model, unit, sign * a))
            af, ar = e.forget_accuracy(classes), e.retain_accuracy(classes)
            if best is None or (1 - af + ar) > best[0] + 1e-12:
                best = (1 - af + ar, af, 100 * (ar0 - ar))
    return best[1], best[2]


def summary_line(label, results):
    ok = sum(passes(c, af, d) for c, af, d in results)
    singles = [(af, d) for c, af, d in results if len(c) == 1]
    return (f"| {label} | {ok}/{len(results)} | {sum(af <= 0.02 for af, _ in singles)}/10 "
            f"| {statistics.mean(d for _, d in singles):+.2f} | {max(af for _, af, _ in results):.2f} |")


def cmd_variants(args):
    print("Best point on the validation split over both signs and a strength grid (an upper bound on what any "
          "choice of sign and strength could reach), 17 class sets per model.\n")
    print("| model, variant | sets meeting target | singles with A_F <= 2 % | singles: mean drop | worst A_F |")
    print("|---|---|---|---|---|")
    for name, ck in zoo_models():
        m, codes = ck.model, ck.codes
        head, _ = classifier_layer(m, codes[:1])
        head_names = {f"{head}.weight", f"{head}.bias"}
        l1, l2 = default_lambdas(ck.meta["arch"])
        paper = []
        for c in SETS:
            r = forget(m, codes, c, lambda1=l1, lambda2=l2, device="cpu", mode="paper")
            e, b = val_eval(r.model), val_eval(m)
            paper.append((c, e.forget_accuracy(c), 100 * (b.retain_accuracy(c) - e.retain_accuracy(c))))
        print(summary_line(f"{name}: paper rule as published (sign on the codes, lambdas {l1:g}, {l2:g})", paper))
        variants = [("every layer, plain Fisher, per-tensor scaling", None, "tensor", None, COARSE),
                    ("every layer, centred-logit Fisher, per-tensor scaling", math.inf, "tensor", None, COARSE),
                    ("every layer, centred-logit Fisher, one global scale", math.inf, "global", None, COARSE),
                    ("classifier layer, plain Fisher, per-tensor scaling", None, "tensor", head_names, FINE),
                    ("classifier layer, centred-logit Fisher, per-tensor scaling", math.inf, "tensor", head_names, FINE)]
        for label, temp, scaling, names, grid in variants:
            if args.quick and names is None:
                continue
            res = []
            for c in SETS:
                if temp is None:
                    ratios = whole_ratios(m, codes, c, None)
                elif names is None:
                    ratios = whole_ratios(m, codes, c, 1e4)
                else:
                    feats = {}
                    layer = dict(m.named_modules())[head]
                    h = layer.register_forward_hook(lambda mod, a, o: feats.__setitem__("h", a[0].detach()))
                    with torch.no_grad():
                        m(codes)
                    h.remove()
                    f = classifier_fisher(feats["h"], len(codes), c)
                    ratios = {f"{head}.{k}": fisher_ratio(f.forget[k], f.remain[k]) for k in f.forget}
                af, d = best_on_grid(m, scaled(m, ratios, scaling, names), c, grid)
                res.append((c, af, d))
            print(summary_line(f"{name}: {label}", res), flush=True)


def cmd_layers(_):
    print("Each layer perturbed alone (centred-logit Fisher ratio, per-tensor scaling): at the smallest strength "
          "(either sign) that forgets the code of the class and keeps the other codes, what happens to the "
          "real validation digits. Single classes.\n")
    print("| model | layer | codes forgotten cleanly | then: digits A_F <= 2 % | mean digits A_F | mean retain drop |")
    print("|---|---|---|---|---|---|")
    grid = [10 ** (k / 4) for k in range(-16, 13)]
    for name, ck in zoo_models():
        m, codes = ck.model, ck.codes
        base = val_eval(m)
        layers: dict[str, list[str]] = {}
        for n, _ in m.named_parameters():
            layers.setdefault(n.rsplit(".", 1)[0], []).append(n)
        for layer, names in layers.items():
            got = []
            for c in range(10):
                ratios = whole_ratios(m, codes, [c], 1e4)
                unit = scaled(m, ratios, "tensor", set(names))
                hit = None
                for sign in (-1.0, 1.0):
                    for a in grid:
                        mm = moved(m, unit, sign * a)
                        with torch.no_grad():
                            ok = mm(codes).argmax(1) == torch.arange(10)
                        if not ok[c] and bool(ok[torch.arange(10) != c].all()):
                            e = val_eval(mm)
                            cand = (e.forget_accuracy([c]), 100 * (base.retain_accuracy([c]) - e.retain_accuracy([c])))
                            if hit is None or (1 - cand[0] - cand[1] / 100) > (1 - hit[0] - hit[1] / 100):
                                hit = cand
                            break
                if hit:
                    got.append(hit)
            if got:
                print(f"| {name} | {layer} | {len(got)}/10 | {sum(af <= 0.02 for af, _ in got)}/{len(got)} "
                      f"| {statistics.mean(af for af, _ in got):.2f} | {statistics.mean(d for _, d in got):+.1f} |",
                      flush=True)
            else:
                print(f"| {name} | {layer} | 0/10 | | | |", flush=True)


def halves(seed=123):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(VY), generator=g)
    a = torch.zeros(len(VY), dtype=torch.bool)
    for c in range(10):
        ic = idx[VY[idx] == c]
        a[ic[: len(ic) // 2]] = True
    return [(a, ~a), (~a, a)]


def cmd_safety(_):
    """Calibrate on one half of the validation split with a safety factor; measure on the other half."""
    print("Strength rules: the classifier-layer perturbation with its strength chosen on one half of the "
          "validation split (or on the codes alone) times a safety factor, measured on the other half; "
          "17 class sets x 2 halves per model.\n")
    print("| model | rule | x1 | x2 | x4 | x8 | x16 | worst drop at the chosen factor |")
    print("|---|---|---|---|---|---|---|---|")
    for name, ck in zoo_models():
        for rule, factor in (("validation (calibrated)", VAL_SAFETY), ("codes only (classifier)", CODE_SAFETY)):
            fails = {k: 0 for k in (1, 2, 4, 8, 16)}
            worst, total = 0.0, 0
            for cal, hold in halves():
                for c in SETS:
                    for k in fails:
                        mode = "calibrated" if rule.startswith("validation") else "classifier"
                        r = _forget_with_factor(ck, c, mode, k, (VX[cal], VY[cal]))
                        e, b = val_eval(r.model, VX[hold], VY[hold]), val_eval(ck.model, VX[hold], VY[hold])
                        af, d = e.forget_accuracy(c), 100 * (b.retain_accuracy(c) - e.retain_accuracy(c))
                        fails[k] += not passes(c, af, d)
                        if k == factor:
                            worst = max(worst, d)
                    total += 1
            print(f"| {name} | {rule} | " + " | ".join(f"{fails[k]}/{total} fail" for k in fails) + f" | {worst:+.1f} |",
                  flush=True)


def _forget_with_factor(ck, classes, mode, factor, calibration):
    import unlearning.methods.forgetting as fg

    saved = fg.VAL_SAFETY, fg.CODE_SAFETY
    try:
        fg.VAL_SAFETY, fg.CODE_SAFETY = float(factor), float(factor)
        return fg.forget(ck.model, ck.codes, classes, mode=mode, calibration=calibration, device="cpu")
    finally:
        fg.VAL_SAFETY, fg.CODE_SAFETY = saved


RECIPES = {
    "mlp: 200 epochs, t_mix 0.1 (zoo)": ("mlp", TrainConfig(epochs=200, t_mix=0.1), None),
    "mlp: 200 epochs, t_mix 0.3": ("mlp", TrainConfig(epochs=200, t_mix=0.3), None),
    "mlp: 50 epochs, t_mix 0.1": ("mlp", TrainConfig(epochs=50, t_mix=0.1), None),
    "cnn: 30 epochs, t_mix 0.1 (zoo)": ("cnn", TrainConfig(epochs=30, t_mix=0.1), None),
    "cnn: 30 epochs, t_mix 0.3, cosine": ("cnn", TrainConfig(epochs=30, t_mix=0.3, schedule="cosine"), None),
    "cnn: 60 epochs, t_mix 0.1, cosine": ("cnn", TrainConfig(epochs=60, t_mix=0.1, schedule="cosine"), None),
    "cnn: 30 epochs, t_mix 0.1, shifts of +-2 px": ("cnn", TrainConfig(epochs=30, t_mix=0.1), "shift"),
    "cnn: 30 epochs, t_mix 0 (codes never seen)": ("cnn", TrainConfig(epochs=30, t_mix=0.0), None),
    "resnet8: 30 epochs, t_mix 0.1": ("resnet8", TrainConfig(epochs=30, t_mix=0.1), None),
    "resnet8: 30 epochs, t_mix 0.3, cosine, lr 0.05 (zoo)": ("resnet8", TrainConfig(epochs=30, t_mix=0.3, lr=0.05,
                                                                                schedule="cosine"), None),
    "resnet8: 15 epochs, t_mix 0.1, cosine, lr 0.05": ("resnet8", TrainConfig(epochs=15, t_mix=0.1, lr=0.05,
                                                                                schedule="cosine"), None),
    "resnet8: 30 epochs, t_mix 0.1, shifts of +-2 px": ("resnet8", TrainConfig(epochs=30, t_mix=0.1), "shift"),
}


def _shift(x):
    dx, dy = torch.randint(-2, 3, (2,))
    return torch.roll(x, (int(dy), int(dx)), (1, 2))


def cmd_recipes(args):
    torch.set_num_threads(1)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    print("Training recipes, measured on the validation split: the paper rule and the data-free classifier mode "
          "on the full split; the calibrated mode calibrated on one half and measured on the other.\n")
    print("| recipe | val acc | paper: sets meeting target | paper: singles forgotten | classifier: sets "
          "| calibrated: sets (held-out half) |")
    print("|---|---|---|---|---|---|")
    for label, (arch, config, aug) in RECIPES.items():
        path = cache / (label.split(" (")[0].replace(":", "").replace(",", "").replace(" ", "_") + ".safetensors")
        if not path.is_file():
            splits = SPLITS
            if aug == "shift":
                splits = dataclasses.replace(SPLITS, train=ImageTensors(SPLITS.train.images, SPLITS.train.labels,
                                                                        transform=_shift))
            train_new_model(splits, arch, config, out=path, device="cpu")
        ck = load_checkpoint(path)
        b = val_eval(ck.model)
        l1, l2 = default_lambdas(arch)
        rows = {"paper": [], "classifier": [], "calibrated": []}
        for c in SETS:
            for mode in ("paper", "classifier"):
                r = forget(ck.model, ck.codes, c, lambda1=l1, lambda2=l2, mode=mode, device="cpu")
                e = val_eval(r.model)
                rows[mode].append((c, e.forget_accuracy(c), 100 * (b.retain_accuracy(c) - e.retain_accuracy(c))))
            for cal, hold in halves():
                r = forget(ck.model, ck.codes, c, mode="calibrated", calibration=(VX[cal], VY[cal]), device="cpu")
                e, bh = val_eval(r.model, VX[hold], VY[hold]), val_eval(ck.model, VX[hold], VY[hold])
                rows["calibrated"].append((c, e.forget_accuracy(c), 100 * (bh.retain_accuracy(c) - e.retain_accuracy(c))))
        ok = {k: sum(passes(c, af, d) for c, af, d in v) for k, v in rows.items()}
        singles = sum(af <= 0.02 for c, af, _ in rows["paper"] if len(c) == 1)
        print(f"| {label} | {b.accuracy:.3f} | {ok['paper']}/17 | {singles}/10 | {ok['classifier']}/17 "
              f"| {ok['calibrated']}/34 |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", choices=["fit", "variants", "layers", "safety", "recipes"])
    ap.add_argument("--cache", default="/tmp/mode_study", help="recipes: where trained variants are kept")
    ap.add_argument("--quick", action="store_true", help="variants: classifier-layer variants only")
    args = ap.parse_args()
    torch.set_num_threads(1)
    {"fit": cmd_fit, "variants": cmd_variants, "layers": cmd_layers, "safety": cmd_safety,
     "recipes": cmd_recipes}[args.study](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
