"""ui/compare_table: the Compare page's rows carry each method's numbers in percent, and the CSV carries them too."""
from __future__ import annotations

import csv
import io
import math
from types import SimpleNamespace

from ui import compare_table
from unlearning import comparison


def _row(method: str, seconds: float, mode: str = "") -> comparison.MethodRow:
    return comparison.MethodRow(method, seconds, forget_accuracy=0.0123, retain_accuracy=0.9876, mia=math.nan,
                                attack_accuracy=0.5, device="cpu", mode=mode)


def test_rows_are_percent_with_the_one_shot_ratio_and_the_audit_where_there_is_one():
    one = _row(comparison.ONE_SHOT, 0.5, mode="paper")
    retrain = _row(comparison.REFERENCE, 50.0)
    # a run_audit.MethodAudit's fields
    audits = {comparison.REFERENCE: SimpleNamespace(probe_forget=0.25, relearn_steps_50=None, mia_svc=0.75)}
    first, second = compare_table.table_rows([one, retrain], one, audits)
    assert first["method"] == f"{comparison.LABELS[comparison.ONE_SHOT]} · paper"
    assert second["method"] == comparison.LABELS[comparison.REFERENCE]
    assert (first["A_F %"], first["A_R %"], first["MIA %"]) == (1.2, 98.8, None)  # NaN is an empty cell
    assert first["× one-shot"] == 1.0 and second["× one-shot"] == 100.0
    assert first["10-shot probe %"] is None and first["SVC MIA %"] is None
    assert second["10-shot probe %"] == 25.0 and second["SVC MIA %"] == 25.0
    assert second["relearn steps to 50 %"] is None
    assert compare_table.table_rows([retrain], None, {})[0]["× one-shot"] is None  # no one-shot row to divide by


def test_csv_has_the_model_classes_and_device_in_every_row():
    one = _row(comparison.ONE_SHOT, 0.5, mode="paper")
    rows = compare_table.table_rows([one, _row(comparison.REFERENCE, 50.0)], one, {})
    table = list(csv.DictReader(io.StringIO(compare_table.table_csv(rows, "digits-mlp", ["3", "8"], "cpu"))))
    assert [r["method"] for r in table] == [r["method"] for r in rows]
    assert {(r["model"], r["forget_classes"], r["device"]) for r in table} == {("digits-mlp", "3 8", "cpu")}
    assert table[0]["MIA %"] == "" and float(table[1]["seconds"]) == 50.0
