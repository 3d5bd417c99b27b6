"""Bad paths and values: one `crmqc: error:` line (or argparse's usage error), exit code 2, nothing lost."""

import errno
import os
import subprocess
import sys

import pytest

from classifier import cli
from classifier.cli import main
from classifier.qa.store import Store

OLD = "deal_id,text\n1,kept as it was\n"


def _fails_with(argv, *names, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("crmqc: error:") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for name in names:
        assert str(name) in err, err
    return err


def _usage_error(argv, *names, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: crmqc") and "Traceback" not in err, err
    for name in names:
        assert name in err, err
    return err


@pytest.fixture
def texts(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("deal_id,text\n1,НД\n2,перезвонить\n", encoding="utf-8")
    return src


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("not a folder\n", encoding="utf-8")
    return path


@pytest.fixture
def no_slow_work(monkeypatch):
    """Loading a model, training or scoring fails the test: bad output paths are refused before."""
    def slow(*args, **kwargs):
        raise AssertionError("slow work started before the output path was checked")
    monkeypatch.setattr(cli, "_checker", slow)
    monkeypatch.setattr("classifier.training.train.train", slow)
    monkeypatch.setattr("classifier.qa.retrain.retrain", slow)
    monkeypatch.setattr("classifier.qa.retrain.suspects", slow)


@pytest.mark.parametrize("name", ["missing.csv", "."])
def test_evaluate_on_a_file_that_cannot_be_read(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    err = _fails_with(["evaluate", "--data", name], name, capsys=capsys)
    assert "No such file or directory" in err or "Is a directory" in err


@pytest.mark.usefixtures("no_slow_work")
@pytest.mark.parametrize("output,problem", [
    ("missing/out.csv", "folder {tmp}/missing does not exist"),
    ("plain.txt/out.csv", "folder {tmp}/plain.txt is not a folder"),
    (".", "is a folder"),
])
def test_score_refuses_an_output_it_cannot_write(output, problem, texts, a_file, tmp_path, capsys):
    out = tmp_path / output
    _fails_with(["score", "--input", str(texts), "--output", str(out)],
                "--output", out, problem.format(tmp=tmp_path), capsys=capsys)
    assert a_file.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
@pytest.mark.usefixtures("no_slow_work")
def test_score_refuses_a_read_only_folder(texts, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    _fails_with(["score", "--input", str(texts), "--output", str(locked / "out.csv")],
                "no permission to write in", locked, capsys=capsys)


def test_score_keeps_the_old_output_when_the_input_is_bad(tmp_path, capsys):
    out = tmp_path / "out.csv"
    out.write_text(OLD, encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("comment\nНД\n", encoding="utf-8")
    _fails_with(["score", "--input", str(bad), "--output", str(out)], "no `text` column", capsys=capsys)
    _fails_with(["score", "--input", str(tmp_path / "nowhere.csv"), "--output", str(out)], "nowhere.csv",
                capsys=capsys)
    assert out.read_text(encoding="utf-8") == OLD


def test_score_interrupted_keeps_the_old_output_and_no_partial_file(texts, tmp_path, monkeypatch, capsys):
    class Interrupted:
        def classify_many(self, texts):
            raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_checker", lambda args: Interrupted())
    out = tmp_path / "out.csv"
    out.write_text(OLD, encoding="utf-8")
    assert main(["score", "--input", str(texts), "--output", str(out), "--quiet"]) == 130
    assert "Traceback" not in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_pool_import_of_a_folder_keeps_the_pool(texts, tmp_path, capsys):
    db = tmp_path / "labels.sqlite3"
    assert main(["--store", str(db), "pool", "import", str(texts)]) == 0
    capsys.readouterr()
    err = _fails_with(["--store", str(db), "pool", "import", str(tmp_path)], tmp_path, capsys=capsys)
    assert "directory" in err.lower()
    assert Store(db).pool_size() == 2


@pytest.mark.parametrize("out,problem", [
    ("missing/labels.csv", "folder {tmp}/missing does not exist"),
    ("plain.txt/labels.csv", "is not a folder"),
    (".", "is a folder"),
])
def test_labels_export_refuses_a_bad_path(out, problem, a_file, tmp_path, capsys):
    target = tmp_path / out
    _fails_with(["--store", str(tmp_path / "labels.sqlite3"), "labels", "export", str(target)],
                "labels export", target, problem.format(tmp=tmp_path), capsys=capsys)


def test_a_write_that_fails_midway_is_one_line(tmp_path, monkeypatch, capsys):
    def disk_full(self, out):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))
    monkeypatch.setattr(Store, "export_csv", disk_full)
    out = tmp_path / "labels.csv"
    _fails_with(["--store", str(tmp_path / "labels.sqlite3"), "labels", "export", str(out)],
                f"{out}: {os.strerror(errno.ENOSPC)}", capsys=capsys)


def test_store_that_is_not_a_database_is_left_alone(a_file, tmp_path, capsys):
    _fails_with(["--store", str(a_file), "agreement"], "labels database", a_file, "not a database", capsys=capsys)
    assert a_file.read_text(encoding="utf-8") == "not a folder\n"
    _fails_with(["--store", str(tmp_path), "agreement"], tmp_path, "is a folder", capsys=capsys)
    _fails_with(["--store", str(a_file / "labels.sqlite3"), "agreement"], a_file, "not a folder", capsys=capsys)


@pytest.mark.usefixtures("no_slow_work")
@pytest.mark.parametrize("argv", [["train"], ["retrain"]])
def test_training_refuses_a_models_dir_it_cannot_write(argv, a_file, tmp_path, capsys):
    _fails_with(["--store", str(tmp_path / "labels.sqlite3"), "--models-dir", str(a_file / "models"), *argv],
                "--models-dir", a_file, "is not a folder", capsys=capsys)
    _fails_with(["--models-dir", str(a_file), *argv], "--models-dir", a_file, "not a folder", capsys=capsys)


@pytest.mark.usefixtures("no_slow_work")
def test_suspects_refuses_an_output_it_cannot_write(tmp_path, capsys):
    out = tmp_path / "missing" / "suspects.csv"
    _fails_with(["--store", str(tmp_path / "labels.sqlite3"), "suspects", "--output", str(out)],
                "--output", out, "does not exist", capsys=capsys)


@pytest.mark.usefixtures("no_slow_work")
def test_audit_refuses_an_out_that_is_a_file(a_file, tmp_path, capsys):
    _fails_with(["audit", str(tmp_path), "--out", str(a_file)], "--out", a_file, "not a folder", capsys=capsys)
    assert a_file.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.usefixtures("no_slow_work")
@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "high"])
def test_suspects_confidence_must_be_between_0_and_1(value, capsys):
    _usage_error(["suspects", "--confidence", value], "--confidence", "from 0 to 1", repr(value), capsys=capsys)


@pytest.mark.parametrize("value", ["-1", "65536", "80.5", "http"])
def test_serve_port_must_be_a_port_number(value, capsys):
    _usage_error(["serve", "--port", value], "--port", "from 0 to 65535", repr(value), capsys=capsys)


def test_console_script_prints_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "classifier.cli", "evaluate", "--data", "missing.csv"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "crmqc: error: missing.csv: No such file or directory\n"
