import csv
import json
import subprocess
import sys

import pytest

from classifier.cli import main
from tests.helpers import read_csv


def test_score_prints_the_verdict_as_json(capsys):
    assert main(["score", "НД"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["category"] == "stop" and out["expanded"] is False and out["rule"] == "no_answer"


def test_score_file_keeps_columns_and_survives_empty_rows(tmp_path, capsys):
    src = tmp_path / "in.csv"
    with open(src, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["deal_id", "text"])
        w.writerows([["1", "недозвон"], ["2", ""], ["3", "Обсудили КП: дорого на 10%, согласовал скидку 5%, "
                                                         "ждёт счёт до пт"]])
    out = tmp_path / "out.csv"
    assert main(["score", "--input", str(src), "--output", str(out)]) == 0
    rows = read_csv(out)
    assert [r["deal_id"] for r in rows] == ["1", "2", "3"]
    assert list(rows[0]) == ["deal_id", "text", "expanded", "score", "category", "missing", "rule"]
    assert [r["category"] for r in rows[:2]] == ["stop", "stop"]
    assert rows[2]["expanded"] == "1"


@pytest.mark.parametrize("argv,message", [
    (["score"], "give a comment"),
    (["score", "--input", "nowhere.csv", "--output", "x.csv"], "input file not found"),
    (["score", "--input", "README.md"], "--input needs --output"),
    (["--model", "no-such-model", "score", "НД"], "no-such-model.json not found"),
])
def test_user_errors_exit_2_with_a_message(argv, message, capsys, tmp_path, monkeypatch):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_csv_without_text_column(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("comment\nНД\n", encoding="utf-8")
    assert main(["score", "--input", str(src), "--output", str(tmp_path / "o.csv")]) == 2
    assert "no `text` column" in capsys.readouterr().err


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "classifier.cli", "score", "перезвонить"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["category"] == "stop"


@pytest.mark.parametrize("env,message", [
    ({"CRMQC_MODEL_NAME": "nope"}, "nope.json not found"),
    ({"CRMQC_BATCH_LIMIT": "0"}, "invalid settings: CRMQC_BATCH_LIMIT"),
])
def test_serve_refuses_bad_settings_with_one_line(env, message, monkeypatch, capsys):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_scoring_a_labelled_file_never_overwrites_its_columns(tmp_path, capsys):
    """The README's own example: data/test.csv has `category`; the prediction goes beside it."""
    src = tmp_path / "labelled.csv"
    with open(src, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text", "label", "category"], ["НД", "0", "padding"]])
    out = tmp_path / "out.csv"
    assert main(["score", "--input", str(src), "--output", str(out)]) == 0
    [row] = read_csv(out)
    assert row["category"] == "padding" and row["label"] == "0", "the input's columns as they were"
    assert row["predicted_category"] == "stop" and row["predicted_expanded"] == "0"
    assert "predicted_" in capsys.readouterr().err
