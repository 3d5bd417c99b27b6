"""Agreement between two labellers' files, and the blind second labelling of real comments."""

import csv

import pytest

from classifier import config
from classifier.cli import main
from classifier.qa.agreement import compare_files
from classifier.training.dataset import LabelledRow, exact_key, read_labelled

STUDY = config.DATA_DIR / "agreement" / "real_second_labeller.csv"


def _rows(*pairs):
    return [LabelledRow(text=t, label=int(c == "expanded"), category=c) for t, c in pairs]


def test_files_are_matched_by_normalised_text_and_counted():
    first = _rows(("Купили у местных", "expanded"), ("НД", "stop"), ("Отказ, дорого", "outcome_only"),
                  ("Свои поставщики, никого не рассматривают", "expanded"), ("только в первом", "stop"))
    second = _rows(("купили у МЕСТНЫХ", "outcome_only"), ("нд", "stop"), ("Отказ, дорого", "expanded"),
                   ("Свои поставщики, никого не рассматривают", "expanded"))
    report = compare_files(first, second)
    assert (report["shared"], report["only_first"], report["only_second"]) == (4, 1, 0)
    assert report["expanded"] == {"both": 1, "only_second": 1, "only_first": 1,
                                  "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert report["label_agree"] == 0.5
    assert [d["second"] for d in report["disagreements"]] == ["outcome_only", "expanded"]


def test_identical_files_agree_perfectly():
    rows = _rows(("a b", "stop"), ("c d", "expanded"), ("e f", "subject_only"))
    report = compare_files(rows, rows)
    assert report["label_kappa"] == report["category_kappa"] == 1.0
    assert report["expanded"]["f1"] == 1.0 and not report["disagreements"]


def test_cli_compares_files_and_refuses_files_without_common_comments(tmp_path, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path, rows in ((a, _rows(("Купили у местных", "expanded"))), (b, _rows(("другое", "stop")))):
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label", "category"])
            w.writerows([r.text, r.label, r.category] for r in rows)
    assert main(["agreement", "--files", str(a), str(b)]) == 2
    assert "no comment is in both" in capsys.readouterr().err
    assert main(["agreement", "--files", str(a), str(a)]) == 0
    assert "1 comments in both files" in capsys.readouterr().out


@pytest.mark.skipif(not STUDY.is_file(), reason="no agreement study in data/")
def test_the_second_labelling_is_of_training_rows_only():
    """The study draws only from train.csv: a second opinion on test rows would be a look at the test split."""
    study = read_labelled(STUDY)
    train = {exact_key(r.text) for r in read_labelled(config.TRAIN_CSV)}
    test = {exact_key(r.text) for r in read_labelled(config.TEST_CSV)}
    keys = {exact_key(r.text) for r in study}
    assert len(keys) == len(study) == 400
    assert keys <= train and not keys & test
    assert all(r.source != "hand" for r in study)
