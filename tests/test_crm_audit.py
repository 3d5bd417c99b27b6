"""``crmqc audit`` over the sample export in data/sample_export, and clear errors for a broken export."""

import csv
import json
import shutil
from datetime import datetime

import pytest

from classifier import config
from classifier.audit.report import AuditError, run_audit
from tests.crm_fixtures import FakeVerdict

SAMPLE = config.DATA_DIR / "sample_export"
AS_OF = datetime.fromisoformat("2026-11-20T12:00:00+03:00")


def twelve_words_judge(texts: list[str]) -> list[FakeVerdict]:
    """A stand-in for the model: twelve words or more is expanded."""
    return [FakeVerdict(True, "expanded") if len(t.split()) >= 12 else FakeVerdict(False, "stop") for t in texts]


def rows(path, delimiter=";") -> dict[str, dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return {r[next(iter(r))]: r for r in csv.DictReader(f, delimiter=delimiter)}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    return out, run_audit(SAMPLE, out, twelve_words_judge, AS_OF)


# (deal, status, correct, violations, active, active_until, days_left, last touch, duplicate of)
DEALS = [
    ("301", "open", "1", "", "1", "2027-01-10", "51", "call", "304"),  # a connected call with a note
    ("302", "open", "1", "", "0", "2026-10-05", "-46", "call", ""),  # then a missed call «НД», a 3-second call
    ("303", "open", "0", "no_product_group no_products no_sum", "0", "", "", "", ""),
    ("304", "open", "1", "", "1", "2027-01-13", "54", "email", "301"),  # the client answered our e-mail
    ("305", "open", "1", "", "1", "2027-01-15", "56", "chat", ""),  # the client started the chat
    ("306", "won", "1", "", "0", "", "", "call", ""),
    ("307", "lost", "0", "no_expanded_comment", "0", "", "", "", ""),
    ("308", "open", "1", "", "0", "2026-10-20", "-31", "", ""),  # our e-mail, never answered
    ("309", "open", "1", "", "1", "2027-01-05", "46", "chat", ""),  # we started, the client wrote back
    ("310", "open", "0", "several_contacts", "0", "", "", "call", ""),
    ("311", "open", "0", "not_from_lead", "0", "", "", "call", ""),
    ("312", "open", "1", "", "0", "2026-09-15", "-66", "", ""),  # the comment came a week later
    ("313", "open", "1", "", "1", "2026-11-20", "0", "call", ""),  # three touches, today is the last day
    ("314", "open", "1", "", "0", "2026-11-19", "-1", "call", ""),
    ("315", "open", "1", "", "1", "2027-01-18", "59", "", ""),  # new: two months from creation
]


@pytest.mark.parametrize("deal,status,correct,violations,active,until,days,kind,dupes", DEALS,
                         ids=[d[0] for d in DEALS])
def test_report_csv_has_a_decision_per_deal(report, deal, status, correct, violations, active, until, days, kind,
                                            dupes):
    row = rows(report[0] / "report.csv")[deal]
    assert (row["status"], row["correct"], row["violations"], row["active"]) == (status, correct, violations,
                                                                                 active)
    assert (row["active_until"], row["days_left"], row["last_touch_kind"], row["duplicate_of"]) == (until, days,
                                                                                                    kind, dupes)


# (manager, column, count)
MANAGERS = [
    ("7", "incorrect_deals", "1"), ("7", "inactive_deals", "3"), ("7", "duplicate_deals", "1"),
    ("9", "invalid_contacts", "4"), ("9", "duplicate_contacts", "4"), ("9", "leads_converted_without_touch", "1"),
    ("9", "leads_converted_without_comment", "1"), ("9", "expanded_share", "0,50"),
    ("12", "incorrect_deals", "2"), ("12", "leads_converted", "0"), ("12", "expanded_share", "1,00"),
    ("7", "manager", "Ольга Смирнова"),
    # closed deals are counted, and inactive ones are a share of the open deals only
    ("12", "open_deals", "3"), ("12", "won_deals", "1"), ("12", "lost_deals", "1"), ("12", "inactive_share", "0,67"),
    ("7", "inactive_share", "0,60"), ("7", "incorrect_share", "0,20"), ("9", "invalid_contacts_share", "0,80"),
]


@pytest.mark.parametrize("manager,column,count", MANAGERS, ids=[f"{m[0]} {m[1]}" for m in MANAGERS])
def test_managers_csv(report, manager, column, count):
    assert rows(report[0] / "managers.csv")[manager][column] == count


def test_summary(report):
    summary = report[1]
    assert (summary.deals, summary.incorrect_deals, summary.active_deals, summary.inactive_deals) == (15, 4, 6, 7)
    assert (summary.contacts, summary.invalid_contacts, summary.duplicate_contact_groups) == (12, 5, 2)
    assert (summary.leads_converted, summary.leads_converted_not_allowed) == (4, 2)
    assert [p.name for p in summary.files] == ["report.csv", "managers.csv", "report.html"]


def test_html_is_self_contained(report):
    page = (report[0] / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<style>" in page and page.count("<svg") == 3
    for external in ("<link", "<script", "src=", "url(", "@import"):
        assert external not in page
    assert "Ольга Смирнова" in page and "Ольга Смирнова (7)" not in page and "Не заполнена товарная группа" in page
    assert "201 Иванов Пётр Сергеевич, 202 Иванов Петр Сергеевич, 211 Иванов П." in page


def test_the_real_model_on_the_sample(checker, tmp_path):
    summary = run_audit(SAMPLE, tmp_path, checker.classify_many, AS_OF)
    deals = rows(tmp_path / "report.csv")
    assert summary.deals == 15
    assert deals["301"]["active"] == "1" and deals["302"]["active"] == "0" and deals["313"]["days_left"] == "0"


# --- a broken export gets an error naming the file ----------------------------------------------------------

@pytest.fixture
def export(tmp_path):
    target = tmp_path / "export"
    shutil.copytree(SAMPLE, target)
    return target


def test_the_list_envelope_and_a_plain_list_are_both_read(export, tmp_path):
    deals = json.loads((export / "deals.json").read_text(encoding="utf-8"))
    (export / "deals.json").write_text(json.dumps(deals["result"], ensure_ascii=False), encoding="utf-8")
    assert run_audit(export, tmp_path / "out", twelve_words_judge, AS_OF).deals == 15


def test_optional_files_may_be_absent(export, tmp_path):
    for name in ("product_rows.json", "deal_contacts.json", "call_stats.json", "chat_history.json", "users.json"):
        (export / name).unlink()
    summary = run_audit(export, tmp_path / "out", twelve_words_judge, AS_OF)
    report = rows(tmp_path / "out" / "report.csv")
    assert summary.deals == 15 and "no_products" not in report["301"]["violations"]


BROKEN = [
    ("missing deals", "deals.json", None, "deals.json: not found"),
    ("missing leads", "leads.json", None, "leads.json: not found"),
    ("not JSON", "activities.json", '[{"ID": "1",', "activities.json: not valid JSON"),
    ("not a list", "comments.json", '{"ID": "5"}', "comments.json: expected a list"),
    ("a bad date in a record", "deals.json", '[{"ID": "301", "DATE_CREATE": "вчера"}]',
     "deals.json: record 0 (ID 301): DATE_CREATE: expected an ISO datetime"),
    ("a record without ID", "contacts.json", '{"result": [{"NAME": "Пётр"}]}', "contacts.json: record 0: ID: missing"),
    ("product rows not keyed", "product_rows.json", "[1, 2]", "product_rows.json: expected an object keyed by ID"),
    ("a bad price", "product_rows.json", '{"301": [{"PRICE": "дорого"}]}', "product_rows.json: 301.0.PRICE"),
]


@pytest.mark.parametrize("case,name,text,says", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_export_names_the_file(export, tmp_path, case, name, text, says):
    if text is None:
        (export / name).unlink()
    else:
        (export / name).write_text(text, encoding="utf-8")
    with pytest.raises(AuditError, match=says.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        run_audit(export, tmp_path / "out", twelve_words_judge, AS_OF)


def test_not_a_folder(tmp_path):
    with pytest.raises(AuditError, match="not a folder"):
        run_audit(tmp_path / "nowhere", tmp_path / "out", twelve_words_judge, AS_OF)


def test_the_csv_opens_in_russian_excel_by_default(report, tmp_path):
    raw = (report[0] / "report.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads Cyrillic"
    header = raw[3:].split(b"\r\n")[0].decode()
    assert ";" in header and "," not in header
    summary = run_audit(SAMPLE, tmp_path, twelve_words_judge, AS_OF, csv_dialect="comma")
    assert rows(tmp_path / "report.csv", ",") .keys() == rows(report[0] / "report.csv").keys()
    assert summary.deals == report[1].deals
    assert rows(tmp_path / "managers.csv", ",")["9"]["expanded_share"] == "0.50", "a decimal point in plain CSV"
    assert rows(report[0] / "managers.csv")["9"]["expanded_share"] == "0,50", "a decimal comma for Russian Excel"


# --- signals of gaming across the export ---------------------------------------------------------------------

def _edit(export, name, change):
    path = export / name
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = data["result"] if isinstance(data, dict) else data
    change(rows)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _by_id(rows, record_id):
    return next(r for r in rows if r["ID"] == record_id)


def test_a_comment_pasted_onto_another_deal_of_the_manager_does_not_count(export, tmp_path):
    activities = json.loads((export / "activities.json").read_text(encoding="utf-8"))
    note = _by_id(activities if isinstance(activities, list) else activities["result"], "9001")["DESCRIPTION"]
    _edit(export, "comments.json", lambda rows: _by_id(rows, "5006").update(COMMENT=note))  # deal 305, 15.11
    summary = run_audit(export, tmp_path / "out", twelve_words_judge, AS_OF)
    deals = rows(tmp_path / "out" / "report.csv")
    assert (deals["305"]["reused_touches"], deals["305"]["counted_touches"], deals["305"]["last_touch_kind"]) == \
        ("1", "0", "")
    assert deals["305"]["active_until"] == "2027-01-14", "from creation: the pasted comment does not prolong"
    assert (deals["301"]["reused_touches"], deals["301"]["counted_touches"]) == ("0", "1"), "301 has the original"
    assert rows(tmp_path / "out" / "managers.csv")["7"]["reused_comments"] == "1"
    assert summary.reused_touches == 1
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "заметка к звонку #9001 от 10.11.2026, сделка 301" in page


def test_one_activity_bound_to_two_deals_is_not_a_copy_of_itself(export, tmp_path):
    bindings = [{"OWNER_TYPE_ID": "2", "OWNER_ID": "301"}, {"OWNER_TYPE_ID": "2", "OWNER_ID": "311"}]
    _edit(export, "activities.json", lambda rows: _by_id(rows, "9001").update(BINDINGS=bindings))
    summary = run_audit(export, tmp_path / "out", twelve_words_judge, AS_OF)
    deals = rows(tmp_path / "out" / "report.csv")
    assert deals["311"]["counted_touches"] == "2" and deals["301"]["counted_touches"] == "1"
    assert summary.reused_touches == 0


def test_promises_without_a_fact_are_listed_per_manager(report):
    deals, managers = rows(report[0] / "report.csv"), rows(report[0] / "managers.csv")
    assert deals["301"]["promises_broken"] == "1"  # «созвон в понедельник» (16.11), no call since
    assert (managers["7"]["promises"], managers["7"]["promises_kept"], managers["7"]["promises_broken"]) == \
        ("1", "0", "1")
    assert (managers["12"]["promises"], managers["12"]["promises_broken"]) == ("2", "1")  # 310 is not due yet
    page = (report[0] / "report.html").read_text(encoding="utf-8")
    assert "«созвон в понедельник»" in page and "16.11.2026" in page


def test_late_comments_just_before_the_audit_are_a_pattern(export, tmp_path):
    late = [{"ID": f"60{i}", "ENTITY_ID": deal, "ENTITY_TYPE": "deal", "CREATED": "2026-11-19T18:00:00+03:00",
             "COMMENT": "Клиент подтвердил интерес, условия устраивают, ждём документы и подпишем договор",
             "AUTHOR_ID": "9", "FILES": []} for i, deal in enumerate(["303", "309", "312", "304", "309"])]
    _edit(export, "comments.json", lambda rows: rows.extend(late))
    summary = run_audit(export, tmp_path / "out", twelve_words_judge, AS_OF)
    managers = rows(tmp_path / "out" / "managers.csv")
    assert (managers["9"]["late_comments"], managers["9"]["burst"]) == ("5", "1")
    assert (managers["7"]["late_comments"], managers["7"]["burst"]) == ("0", "0")
    assert summary.bursts == ("9",)
    assert "Комментарии задним числом перед аудитом" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
