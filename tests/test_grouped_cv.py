"""Validation by unseen business: no model scores a business it was trained on; figures per business."""

import numpy as np
import pytest

from classifier.training import grouped, spans
from classifier.training.dataset import LabelledRow


def _rows():
    return ([LabelledRow(f"a{i}", i % 2, "expanded" if i % 2 else "stop", source="crm", domain="b2b") for i in range(6)]
            + [LabelledRow(f"b{i}", i % 2, "expanded" if i % 2 else "stop", source="crm", domain="freight")
               for i in range(4)]
            + [LabelledRow(f"c{i}", i % 2, "expanded" if i % 2 else "stop", domain="cars") for i in range(4)])


def test_each_business_is_scored_by_a_model_that_never_saw_it(monkeypatch):
    rows = _rows()
    trained_on = []

    class Fake:
        def __init__(self, objects, card):
            self.seen = objects

        def predict(self, items):
            return type("P", (), {"score": np.full(len(items), 0.9)})()

    def fake_fit(items, cats, params, **kwargs):
        trained_on.append(set(items))
        return set(items)

    monkeypatch.setattr(spans, "fit", fake_fit)
    monkeypatch.setattr(grouped, "Model", Fake)
    items = [r.text for r in rows]
    oof = grouped.leave_one_business_out(rows, items, np.zeros(len(rows), bool), {}, log=lambda m: None)
    assert len(trained_on) == 3
    for seen in trained_on:
        domains = {r.domain for r in rows if r.text in seen}
        assert len(domains) == 2, "each model trained on all businesses but one"
    assert np.all(oof == 0.9)


def test_rule_rejections_and_per_business_figures():
    rows = _rows()
    oof = np.array([0.9 if r.label else 0.1 for r in rows])
    oof[1] = 0.0  # a rule rejected this positive
    table = grouped.per_business(rows, np.where(oof > 0, oof, 0.0), threshold=0.5)
    assert table["real:b2b"]["recall"] == round(2 / 3, 4) and table["real:freight"]["f1"] == 1.0
    assert grouped.summary(table) == {"real": round((0.8 + 1.0) / 2, 4), "hand": 1.0}


def test_cv_refuses_a_business_it_does_not_hold(tmp_path, capsys):
    import csv

    from classifier.cli import main
    data = tmp_path / "rows.csv"
    with open(data, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "category", "source", "domain", "note"])
        w.writerows([["Обсудили цену, договор в пятницу", 1, "expanded", "hand", "cars", ""],
                     ["НД", 0, "stop", "hand", "hr", ""]])
    assert main(["cv", "--data", str(data), "--only", "real:nowhere"]) == 2
    err = capsys.readouterr().err
    assert "--only: no business real:nowhere" in err and "hand:cars" in err


@pytest.mark.parametrize("argv, says", [([], "C=4096.0, 0 contrast rows at weight 1.0, clause heads"),
                                        (["--no-clause-heads", "--contrast-weight", "0"], "C=4096.0")])
def test_cv_runs_with_and_without_the_clause_heads(tmp_path, capsys, argv, says):
    import csv

    from classifier.cli import main
    from tests.helpers import FIT_TEXTS
    data = tmp_path / "rows.csv"
    with open(data, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "category", "source", "domain", "note"])
        w.writerows([[f"{text} ({k})", int(cat == "expanded"), cat, "hand", ("cars", "hr")[k // 8 % 2], ""]
                     for k, (text, cat) in enumerate(FIT_TEXTS * 2)])
    assert main(["cv", "--data", str(data), *argv]) == 0
    out, err = capsys.readouterr()
    head = err.splitlines()[0]
    assert head.startswith("leave one business out over rows.csv: 48 rows") and head.endswith(says)
    assert "hand:cars" in out and "hand:hr" in out and "mean F1 over held-out businesses" in out
