"""A self-contained HTML report of one forgetting run, for sending to people who will not run the app.

One file, no network: plotly.js is embedded once, the figures are the app's own (restyled for a
white page), images are inline PNGs. Opening it offline shows everything.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from unlearning.evaluation.metrics import Evaluation

from . import audit_figures, audit_text, card, figures, formatting, method_text, run_view
from unlearning.evaluation import run_audit

CSS = """
body { font-family: "Source Sans Pro", Helvetica, Arial, sans-serif; color: #222; max-width: 1200px;
       margin: 2rem auto; padding: 0 1.5rem; font-size: 18px; line-height: 1.5; }
h1 { font-size: 2.1rem; margin-bottom: .2rem; } h2 { font-size: 1.5rem; margin-top: 2.2rem; }
.sub { color: #555; } .verdict { padding: .9rem 1.2rem; border-radius: .5rem; margin: 1.2rem 0; font-size: 1.2rem; }
.ok { background: #e6f4ee; border-left: 6px solid #009E73; } .warn { background: #fdf1e6; border-left: 6px solid #E69F00; }
.bad { background: #fbe9e1; border-left: 6px solid #D55E00; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; } .card { flex: 1 1 180px; border: 1px solid #ddd;
       border-radius: .5rem; padding: .8rem 1rem; } .card .v { font-size: 2rem; font-weight: 600; }
.card .l { color: #555; } table { border-collapse: collapse; margin: 1rem 0; }
td, th { border-bottom: 1px solid #ddd; padding: .3rem .8rem; text-align: right; } th:first-child, td:first-child { text-align: left; }

.figure { margin: 2rem 0; } .forgotten { color: #D55E00; font-weight: 600; } footer { color: #777; margin: 3rem 0 1rem; font-size: .9rem; }
"""


def verdict_class(view: run_view.RunView) -> str:
    """The banner's colour: green only when the depth check says forgotten (``audit_text.verdict_tone``)."""
    return audit_text.verdict_tone(view.outcome)


def run_figures(view: run_view.RunView, reference: Evaluation | None = None) -> list[tuple[str, go.Figure]]:
    """The figures of a run, in the order the Forget page shows them (the report reuses them); with
    ``reference`` (the retrained model's evaluation) as a third series."""
    o, r, names, f = view.outcome, view.outcome.result, view.class_names, view.forget
    out = [("Accuracy per class", figures.per_class_accuracy(
        names, o.before.per_class_accuracy, o.after.per_class_accuracy, f,
        retrained=None if reference is None else reference.per_class_accuracy))]
    if r.tensors:
        out.append(("Parameter sensitivity", figures.ratio_histogram(*r.ratio_histogram(), model_params=r.total_params,
                                                                   model_moved=r.moved_params)))
        out.append(("Perturbed share per layer", figures.layer_overview(
            [t.name for t in r.tensors], [t.numel for t in r.tensors], [t.moved for t in r.tensors],
            [t.scale for t in r.tensors])))
    out.append(("Mnemonic codes", figures.prediction_gallery(
        view.code_images, list(view.code_classes), view.codes_before.labels, view.codes_before.confidence,
        view.codes_after.labels, view.codes_after.confidence, names, f,
        "Mnemonic codes: prediction was → now", columns=min(10, len(view.code_classes)))))
    out.append(("Real test images", figures.prediction_gallery(
        view.sample_images, view.sample_labels, view.samples_before.labels, view.samples_before.confidence,
        view.samples_after.labels, view.samples_after.confidence, names, f,
        "Real test images: prediction was → now", columns=6)))
    out.append(("Confusion matrices", figures.confusion_matrices(
        o.before.confusion, o.after.confusion, names, f, retrained=None if reference is None else reference.confusion)))
    return out


def audit_figures_of(view: run_view.RunView, instant: run_audit.InstantAudit | None,
                     costly: dict | None = None) -> list[tuple[str, go.Figure]]:
    """The audit page's figures the run has computed (none when the audit was not opened)."""
    if instant is None:
        return []
    costly = costly or {}
    shots = {n: {**f.shots, **(costly[n].shots if n in costly else {})} for n, f in instant.facts.items()}
    out = [("Recoverability", audit_figures.recoverability(shots))]
    if instant.depth.profile is not None:
        out.insert(0, ("Recoverability at every depth", audit_figures.recoverability_by_depth(
            instant.depth.profile, instant.depth.verdict.worst_depth)))
    if costly and all(n in costly for n in instant.facts):
        out.append(("Relearning", audit_figures.relearning({n: costly[n].relearn for n in instant.facts})))
    e = instant.embedding
    out.append(("Embeddings", audit_figures.embeddings(e.points, e.labels, view.class_names, view.forget, e.explained)))
    out.append(("Layer-wise similarity", audit_figures.layer_similarity(instant.cka)))
    out.append(("Membership inference", audit_figures.membership(
        {n: {"entropy MIA": f.mia_entropy, "SVC MIA": f.mia_svc} for n, f in instant.facts.items()})))
    return out


def _depth_html(view: run_view.RunView, reference_name: str | None) -> str:
    d = view.outcome.depth
    esc = html.escape
    if d is None:
        return "<p>The depth check (is the class gone from the features, or only hidden?) was not run.</p>"
    ref = "none at hand" if d.probe_retrained is None else f"{esc(d.reference)}" + (
        f" ({esc(reference_name)})" if reference_name else "")
    rows = [("10-shot probe, original", _frac(d.probe_original)), ("10-shot probe, unlearned", _frac(d.probe_unlearned)),
            ("10-shot probe, retrained", _frac(d.probe_retrained)),
            ("features changed", "yes" if d.features_changed else "no, bit for bit the original's"),
            ("retrained reference", ref)]
    rows.append(("Anamnesis Index", audit_text.anamnesis_text(d.anamnesis)))
    rule = audit_text.depth_rule(d.verdict.thresholds).replace("*", "")
    per_depth = ""
    if d.rows():
        heads = list(d.rows()[0])
        per_depth = ("<h3>Recoverability at every depth (10-shot probe, %)</h3><table><tr>"
                     + "".join(f"<th>{esc(h)}</th>" for h in heads) + "</tr>"
                     + "".join("<tr>" + "".join(f"<td>{esc('–' if r[h] is None else str(r[h]))}</td>" for h in heads)
                               + "</tr>" for r in d.rows()) + "</table>")
    return ("<h2>Is it gone?</h2><table>" + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows)
            + f"</table>{per_depth}<p class='sub'>{esc(rule)}</p>")


def _frac(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}%"


def build_report(view: run_view.RunView, reference: Evaluation | None = None,
                 instant: run_audit.InstantAudit | None = None, costly: dict | None = None,
                 reference_name: str | None = None, card_facts: card.CardFacts | None = None) -> str:
    """The whole report as one HTML string: the unlearning card as its first page (with ``card_facts``), the
    verdict with its depth, the run's figures (with the retrained ``reference`` beside them when there is
    one) and the audit figures computed so far."""
    o, r = view.outcome, view.outcome.result
    s = run_view.summary(view)
    meta = view.meta
    esc = html.escape
    forget = ", ".join(view.forget_names)
    cards = [("A_F (forgotten classes)", f"{_pct(s['A_F_before'])} → {_pct(s['A_F_after'])}"),
             ("A_R (remaining classes)", f"{_pct(s['A_R_before'])} → {_pct(s['A_R_after'])}"),
             ("E_F (accuracy removed)", _pct(s["E_F"])),
             ("Time", formatting.seconds_text(r.seconds["total"]))]
    rows = "".join(
        f"<tr><td class='{'forgotten' if row['forgotten'] else ''}'>{esc(row['class'])}</td>"
        f"<td>{row['test_images']}</td><td>{_pct(row['accuracy_before_pct'])}</td>"
        f"<td>{_pct(row['accuracy_after_pct'])}</td></tr>" for row in run_view.metrics_rows(view))
    settings = [("model", view.model_name), ("architecture", meta.get("arch")), ("dataset", meta.get("dataset")),
                ("forgotten classes", forget), ("how", " · ".join(method_text.settings_line(r))),
                ("parameters perturbed", f"{r.moved_params:,} of {r.total_params:,}" if r.tensors else "–")]
    figs = "".join(
        "<div class='figure'>" + figures.for_print(fig).to_html(full_html=False, include_plotlyjs=False,
                                                                 config={"displaylogo": False}) + "</div>"
        for title, fig in run_figures(view, reference) + audit_figures_of(view, instant, costly))
    notes = "".join(f"<li>{esc(n)}</li>" for n in o.all_notes)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Forgetting {esc(forget)} — {esc(view.model_name)}</title><style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body>
{"" if card_facts is None else card.card_html(view, card_facts)}
<h1>Forgetting {esc(forget)}</h1>
<p class="sub">Model <b>{esc(view.model_name)}</b> · forgotten with {esc(method_text.method_credit(r.mode))} · measured on {int(o.before.confusion.sum()):,} real held-out test images</p>
<div class="verdict {verdict_class(view)}">{esc(o.depth.verdict.message + " ") if o.depth is not None else ""}Outputs: {esc(o.verdict.message)}</div>
<p>{esc(run_view.headline(view))}</p>
<div class="cards">{''.join(f"<div class='card'><div class='l'>{esc(k)}</div><div class='v'>{esc(v)}</div></div>" for k, v in cards)}</div>
{f"<ul>{notes}</ul>" if notes else ""}
{_depth_html(view, reference_name)}
{figs}
<h2>Per-class accuracy</h2>
<table><tr><th>class</th><th>test images</th><th>before</th><th>after</th></tr>{rows}</table>
<h2>Settings</h2>
<table>{''.join(f"<tr><td>{esc(str(k))}</td><td>{esc(str(v))}</td></tr>" for k, v in settings)}</table>
<footer>Made with Mnemonic Unlearning Studio on {created}. A_F and A_R are test accuracies on the forgotten and
remaining classes; E_F is the share of the forgotten classes' accuracy that was removed (100% = all of it).</footer>
</body></html>
"""
