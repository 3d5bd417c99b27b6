"""``crmqc audit`` as a head of sales reads it: names instead of IDs, links into the portal, shares and the
period, closed deals, «активна до» explained, every run kept and the change since the previous one."""

import csv
import json
import shutil
from dataclasses import replace
from datetime import datetime

import pytest

from classifier import config
from classifier.audit.report import AuditError, run_audit
from classifier.audit.runs import file_name, load_history
from classifier.cli import main
from classifier.crm.settings import CrmSettings, CrmSettingsError, load_settings
from tests.test_crm_audit import twelve_words_judge

SAMPLE = config.DATA_DIR / "sample_export"
AS_OF = datetime.fromisoformat("2026-11-20T12:00:00+03:00")
LATER = datetime.fromisoformat("2026-12-04T12:00:00+03:00")
PORTAL = "https://example.bitrix24.ru"

STATUSES = {"result": [
    {"ID": "1", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "EXECUTING", "NAME": "Оформление", "SORT": "40",
     "SYSTEM": "N", "CATEGORY_ID": "0", "SEMANTICS": None},
    {"ID": "2", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "WON", "NAME": "Сделка успешна", "SEMANTICS": "S"},
    {"ID": "3", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "LOSE", "NAME": "Сделка провалена", "SEMANTICS": "F"},
    {"ID": "4", "ENTITY_ID": "SOURCE", "STATUS_ID": "WEB", "NAME": "Веб-сайт"},
    {"ID": "5", "ENTITY_ID": "STATUS", "STATUS_ID": "CONVERTED", "NAME": "Качественный лид"},
], "total": 5}
ITEMS = [{"ID": "45", "VALUE": "Кредитные карты"}, {"ID": "46", "VALUE": "Вклады"},
         {"ID": "47", "VALUE": "Страхование"}]
DEAL_FIELDS = {"result": {"TITLE": {"type": "string", "title": "Название"},
                          "UF_CRM_PRODUCT_GROUP": {"type": "enumeration", "isMultiple": False, "items": ITEMS,
                                                   "listLabel": "Товарная группа"}}}


def rows(path, delimiter=";") -> dict[str, dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return {r[next(iter(r))]: r for r in csv.DictReader(f, delimiter=delimiter)}


@pytest.fixture
def export(tmp_path):
    target = tmp_path / "export"
    shutil.copytree(SAMPLE, target)
    return target


def _write(folder, name, data):
    (folder / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def audit(export, out, now=AS_OF, **kw):
    return run_audit(export, out, twelve_words_judge, now, **kw)


# --- names, not IDs ---------------------------------------------------------------------------------------

USERFIELDS = [{"ID": "112", "ENTITY_ID": "CRM_DEAL", "FIELD_NAME": "UF_CRM_PRODUCT_GROUP",
               "USER_TYPE_ID": "enumeration", "LIST": ITEMS}]


@pytest.mark.parametrize("fields", [DEAL_FIELDS, USERFIELDS], ids=["crm.deal.fields", "crm.deal.userfield.list"])
def test_stages_groups_and_contacts_by_name(export, tmp_path, fields):
    _write(export, "statuses.json", STATUSES)
    _write(export, "deal_fields.json", fields)
    audit(export, tmp_path / "out")
    deals = rows(tmp_path / "out" / "report.csv")
    assert (deals["301"]["stage"], deals["301"]["product_group"], deals["301"]["contact"]) == \
        ("Оформление", "Кредитные карты", "Иванов Пётр Сергеевич")
    assert deals["306"]["stage"] == "Сделка успешна" and deals["310"]["contact"] == \
        "Фёдорова Татьяна Олеговна, Фёдоров Алексей Иванович"
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Оформление" in page and "Кредитные карты" in page and "EXECUTING" not in page


def test_without_the_optional_files_the_ids_stand(export, tmp_path):
    (export / "users.json").unlink()
    audit(export, tmp_path / "out")
    deals = rows(tmp_path / "out" / "report.csv")
    assert (deals["301"]["stage"], deals["301"]["product_group"]) == ("EXECUTING", "45")
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "#7" in page and "Ольга Смирнова" not in page


def test_group_labels_in_crm_yaml_are_the_fallback(export, tmp_path):
    settings = replace(load_settings(), product_groups={"45": "Карты (из crm.yaml)"})
    audit(export, tmp_path / "out", settings=settings)
    assert rows(tmp_path / "out" / "report.csv")["301"]["product_group"] == "Карты (из crm.yaml)"
    _write(export, "deal_fields.json", DEAL_FIELDS)
    audit(export, tmp_path / "out2", settings=settings)
    assert rows(tmp_path / "out2" / "report.csv")["301"]["product_group"] == "Кредитные карты", "the portal's wins"


@pytest.mark.parametrize("name,text,says", [
    ("deal_fields.json", '"UF_CRM_PRODUCT_GROUP"', "deal_fields.json: expected the crm.deal.fields object"),
    ("statuses.json", '{"STATUS_ID": "NEW"}', "statuses.json: expected a list"),
    ("statuses.json", "[{", "statuses.json: not valid JSON"),
])
def test_a_broken_names_file_is_named(export, tmp_path, name, text, says):
    (export / name).write_text(text, encoding="utf-8")
    with pytest.raises(AuditError, match=says.replace(".", r"\.")):
        audit(export, tmp_path / "out")


# --- links into the portal --------------------------------------------------------------------------------

def test_every_deal_contact_and_lead_links_into_the_portal(export, tmp_path):
    audit(export, tmp_path / "out", settings=replace(load_settings(), portal_url=PORTAL))
    deals = rows(tmp_path / "out" / "report.csv")
    assert deals["301"]["url"] == f"{PORTAL}/crm/deal/details/301/"
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    for link in (f"{PORTAL}/crm/deal/details/301/", f"{PORTAL}/crm/contact/details/201/",
                 f"{PORTAL}/crm/lead/details/403/", f"{PORTAL}/crm/deal/details/304/"):
        assert f'href="{link}"' in page, link


def test_no_portal_url_no_links(tmp_path):
    audit(SAMPLE, tmp_path / "out")
    assert "<a href" not in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert rows(tmp_path / "out" / "report.csv")["301"]["url"] == ""


@pytest.mark.parametrize("value,expected", [("https://example.bitrix24.ru/", "https://example.bitrix24.ru"),
                                            ("http://crm.local:8080", "http://crm.local:8080"), ("", "")])
def test_portal_url_in_crm_yaml(tmp_path, value, expected):
    (tmp_path / "crm.yaml").write_text(f"portal:\n  url: '{value}'\n", encoding="utf-8")
    assert load_settings(tmp_path / "crm.yaml").portal_url == expected


@pytest.mark.parametrize("value", ["example.bitrix24.ru", "https://x.ru/\"><script>", "ftp://x.ru", "https://"])
def test_a_bad_portal_url_is_named(tmp_path, value):
    (tmp_path / "crm.yaml").write_text(f"portal:\n  url: '{value}'\n", encoding="utf-8")
    with pytest.raises(CrmSettingsError, match=r"crm\.yaml: portal\.url"):
        load_settings(tmp_path / "crm.yaml")


# --- shares, the period, closed deals, «активна до» explained -------------------------------------------------

def test_the_page_gives_shares_the_period_and_closed_deals(tmp_path):
    audit(SAMPLE, tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "данные выгрузки с 10.05.2026 по 19.11.2026" in page  # deal 313 created; the to-do of deal 315
    assert "в работе 13, выиграно 1, проиграно 1" in page
    assert "7 из 13 (54%)" in page, "inactive deals as a share of the open ones"
    assert "3 из 5 (60%)" in page, "Ольга Смирнова: 3 of her 5 open deals inactive"


# (deal, the note on «активна до»)
NOTES = [
    ("301", "последнее засчитанное касание 10.11.2026 + 2 мес."),
    ("315", "засчитанных касаний нет (взаимодействий с клиентом не было): дата создания 18.11.2026 + 2 мес."),
    ("308", "засчитанных касаний нет (1 взаимодействие с клиентом, ни одно не засчитано): "
            "дата создания 20.08.2026 + 2 мес."),
    ("303", "сделка некорректна: активной не считается, пока обязательные поля не заполнены"),
    ("306", "сделка закрыта: активность не проверяется"),
]


@pytest.mark.parametrize("deal,note", NOTES, ids=[n[0] for n in NOTES])
def test_active_until_is_explained(tmp_path_factory, deal, note):
    out = tmp_path_factory.getbasetemp() / "notes"
    if not (out / "report.csv").exists():
        audit(SAMPLE, out)
    assert rows(out / "report.csv")[deal]["active_until_note"] == note
    assert note in (out / "report.html").read_text(encoding="utf-8")


# --- every run kept, the change since the previous one -------------------------------------------------------

def _touch_302(export):
    """A connected call on deal 302 with an expanded note: Ольга's inactive deals go from 3 to 2."""
    path = export / "activities.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    listed = data["result"] if isinstance(data, dict) else data
    listed.append({**next(a for a in listed if a["ID"] == "9002"), "ID": "9901",
                   "ORIGIN_ID": "", "START_TIME": "2026-12-01T10:00:00+03:00",
                   "END_TIME": "2026-12-01T10:05:00+03:00", "CREATED": "2026-12-01T10:00:00+03:00",
                   "DESCRIPTION": "Клиентка решила открыть вклад на 500 тыс. на полгода под 16%, придёт в "
                                  "отделение подписать договор в пятницу к 10 утра"})
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_the_first_run_is_kept_and_says_so(tmp_path):
    summary = audit(SAMPLE, tmp_path / "out")
    assert summary.run == tmp_path / "out" / "runs" / "20261120T120000+0300.json"
    kept = json.loads(summary.run.read_text(encoding="utf-8"))
    assert kept["managers"]["7"]["inactive_deals"] == 3 and kept["managers"]["7"]["inactive_share"] == 0.6
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Это первый сохранённый аудит" in page and "<polyline" not in page


def test_the_next_run_shows_the_change_per_manager_and_a_trend(export, tmp_path):
    audit(export, tmp_path / "out")
    _touch_302(export)
    summary = audit(export, tmp_path / "out", now=LATER)
    assert summary.previous_run == AS_OF.isoformat()
    assert sorted(p.name for p in (tmp_path / "out" / "runs").iterdir()) == [file_name(AS_OF), file_name(LATER)]
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "С прошлого аудита по состоянию на 20.11.2026" in page
    row = page[page.index("Изменения с прошлого аудита</h2>"):page.index("<h2>Сделки</h2>")]
    assert "<polyline" in row and "Ольга Смирнова" in row
    olga = row[row.index("Ольга Смирнова"):].split("</tr>")[0]
    assert '<span class="down">' in olga, "her inactive share fell: shown as better"
    later = json.loads(summary.run.read_text(encoding="utf-8"))["managers"]["7"]
    assert later["inactive_deals"] < 3


def test_auditing_the_same_moment_again_replaces_its_run(tmp_path):
    audit(SAMPLE, tmp_path / "out")
    summary = audit(SAMPLE, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out" / "runs").iterdir()] == [file_name(AS_OF)]
    assert summary.previous_run is None, "a run is never its own previous one"


def test_the_previous_run_is_the_latest_one_before_this_moment(tmp_path):
    runs = tmp_path / "runs"
    for moment in (LATER, AS_OF):  # made in the other order
        audit(SAMPLE, tmp_path / "out", now=moment, runs_dir=runs)
    assert load_history(runs, LATER).previous["as_of"] == AS_OF.isoformat()
    assert load_history(runs, AS_OF).previous is None


def test_a_file_in_the_runs_folder_that_is_not_a_run_is_skipped_and_named(tmp_path):
    runs = tmp_path / "out" / "runs"
    runs.mkdir(parents=True)
    (runs / "notes.json").write_text("{не json", encoding="utf-8")
    (runs / "other.json").write_text('{"version": 99}', encoding="utf-8")
    summary = audit(SAMPLE, tmp_path / "out")
    assert summary.skipped_runs == ("notes.json", "other.json")
    assert any("skipped notes.json" in line for line in summary.lines())


# --- the command line ---------------------------------------------------------------------------------------

def test_crmqc_audit_with_a_portal_url_and_a_runs_folder(tmp_path, capsys):
    code = main(["audit", str(SAMPLE), "--out", str(tmp_path / "out"), "--now", AS_OF.isoformat(),
                 "--portal-url", PORTAL + "/", "--runs", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    assert f"kept the run in {tmp_path / 'runs' / file_name(AS_OF)}" in capsys.readouterr().out
    assert f'href="{PORTAL}/crm/deal/details/301/"' in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_crmqc_audit_refuses_a_bad_portal_url(tmp_path, capsys):
    code = main(["audit", str(SAMPLE), "--out", str(tmp_path / "out"), "--portal-url", "example.bitrix24.ru"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--portal-url: expected the portal's address" in err and not (tmp_path / "out").exists()


def test_the_default_settings_have_no_portal_url():
    assert CrmSettings().portal_url == "" and load_settings().portal_url == ""
