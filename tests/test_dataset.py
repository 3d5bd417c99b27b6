
import pytest

from classifier import config
from classifier.training.dataset import DataError, build, near_key, read_labelled
from tests.helpers import read_csv

HEADER = "text,label,category,source,domain,note\n"


def _write(path, body):
    path.write_text(HEADER + body, encoding="utf-8")
    return path


BAD_ROWS = [
    ("empty text", '"  ",0,stop,hand,other,\n', "empty text"),
    ("unknown category", "НД,0,unknown,hand,other,\n", "unknown category"),
    ("label against category", "НД,1,stop,hand,other,\n", "does not match category"),
    ("label not 0/1", "НД,yes,stop,hand,other,\n", "does not match category"),
]


@pytest.mark.parametrize("case,body,message", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_bad_rows_are_named_with_file_and_line(tmp_path, case, body, message):
    path = _write(tmp_path / "batch.csv", "недозвон,0,stop,hand,other,\n" + body)
    with pytest.raises(DataError, match=rf"batch.csv:3: .*{message}"):
        read_labelled(path)


def test_missing_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("text,label\nНД,0\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing column.*category"):
        read_labelled(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes((HEADER + "НД,0,stop,hand,other,\n").encode("cp1251"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_labelled(path)


def test_near_key_folds_case_punctuation_and_order():
    assert near_key("Перезвонить завтра!") == near_key("завтра,  ПЕРЕЗВОНИТЬ")
    assert near_key("перезвонить завтра") != near_key("перезвонить в пятницу")


def test_build_dedups_settles_conflicts_and_is_deterministic(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = [f"Комментарий номер {w},0,stop,hand,other," for w in
            ["один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять"]]
    _write(raw / "a.csv", "\n".join(rows) + "\nНД,0,stop,hand,other,\nнд,0,stop,hand,other,\n"
           "Отказ: выбрал колледж рядом с домом,1,expanded,hand,education,\n")
    _write(raw / "b.csv", "\"отказ: выбрал колледж рядом с домом\",0,outcome_only,hand,education,\n"
           "НД!,0,stop,real:x,b2b_supply,\n")
    report = build(raw, tmp_path)
    assert report.rows_read == 15
    assert report.duplicates == 2 and report.near_duplicates == 1 and len(report.conflicts) == 1
    first = (tmp_path / "train.csv").read_text(encoding="utf-8"), (tmp_path / "test.csv").read_text(encoding="utf-8")
    build(raw, tmp_path)
    assert first == ((tmp_path / "train.csv").read_text(encoding="utf-8"),
                     (tmp_path / "test.csv").read_text(encoding="utf-8"))
    kept = read_csv(tmp_path / "train.csv") + \
        read_csv(tmp_path / "test.csv")
    assert len(kept) == report.kept == 12
    colleges = [r for r in kept if "колледж" in r["text"].lower()]
    assert [r["label"] for r in colleges] == ["0"], "a conflict takes the stricter label"


def test_shipped_split_is_what_build_makes(tmp_path):
    """data/train.csv and data/test.csv are exactly the build of data/raw (nobody edited them)."""
    build(config.RAW_DIR, tmp_path)
    for name in ("train.csv", "test.csv"):
        assert (tmp_path / name).read_bytes() == (config.DATA_DIR / name).read_bytes()


def test_shipped_corpus_meets_the_brief():
    rows = [r for name in ("train.csv", "test.csv")
            for r in read_csv(config.DATA_DIR / name)]
    test = read_csv(config.TEST_CSV)
    real = [r for r in rows if r["source"] != "hand"]
    assert len(rows) >= 3000 and len(test) >= 600 and len(real) >= 1000
    assert sum(r["domain"] != "education" for r in rows) / len(rows) >= 0.4
    assert {r["category"] for r in rows} == set(config.CATEGORIES)
