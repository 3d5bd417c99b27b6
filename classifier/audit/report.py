"""``crmqc audit DIR``: the CRM rules over a folder of Bitrix24 REST exports.

Reads the lists the list methods return (``deals.json``, ``activities.json``, ``comments.json``,
``contacts.json``, ``leads.json``; each a JSON list or the ``{"result": [...]}`` envelope) and,
when present, ``product_rows.json`` and ``deal_contacts.json`` (deal ID → rows),
``call_stats.json``, ``chat_history.json`` (session ID → history) and ``users.json`` (names of
managers). Writes ``report.csv`` (a decision per deal), ``managers.csv`` (counts per
ASSIGNED_BY_ID) and a self-contained ``report.html``.
"""

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .. import fileio
from ..crm import bitrix
from ..crm.bitrix import BitrixFormatError
from ..crm.contacts import ContactCheck, check_contact
from ..crm.deals import DealDecision, aware, deal_texts, decide
from ..crm.duplicates import ContactGroup, DealGroup, find_contact_duplicates, find_deal_duplicates
from ..crm.gaming import (
    Burst,
    PromiseCheck,
    ReuseIndex,
    comment_lags,
    deal_writings,
    find_bursts,
    judge_without_repeats,
)
from ..crm.leads import ConversionDecision, check_conversion, is_converted
from ..crm.records import (
    DEAL,
    LEAD,
    Activity,
    CallStat,
    ChatSession,
    Comment,
    Contact,
    Deal,
    History,
    Judge,
    Judgement,
    Lead,
)
from ..crm.settings import CrmSettings, load_settings
from ..crm.touches import Touch, comment_texts
from .html import render_report

REQUIRED = ("deals.json", "activities.json", "comments.json", "contacts.json", "leads.json")
REPORT_COLUMNS = ("deal_id", "title", "assigned_by_id", "manager", "status", "correct", "violations", "active",
                  "active_until", "days_left", "last_touch_at", "last_touch_kind", "last_touch_activity_id",
                  "counted_touches", "interactions", "duplicate_of", "reused_touches", "promises_broken")
COUNT_COLUMNS = ("deals", "incorrect_deals", "inactive_deals", "duplicate_deals", "contacts", "invalid_contacts",
                 "duplicate_contacts", "leads_converted", "leads_converted_without_touch",
                 "leads_converted_without_comment", "comments", "expanded_comments", "reused_comments", "promises",
                 "promises_kept", "promises_broken", "late_comments")
MANAGER_COLUMNS = ("assigned_by_id", "manager", *COUNT_COLUMNS, "expanded_share", "burst")


class AuditError(Exception):
    """An export file is missing or malformed; the message names the file."""


# --- reading the export ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Export:
    deals: tuple[Deal, ...]
    activities: tuple[Activity, ...]
    comments: tuple[Comment, ...]
    contacts: tuple[Contact, ...]
    leads: tuple[Lead, ...]
    call_stats: tuple[CallStat, ...] = ()
    chats: tuple[ChatSession, ...] = ()
    users: dict[str, str] = field(default_factory=dict)  # ID → name
    staff_emails: tuple[str, ...] = ()  # users' EMAIL: never a client's address


def _load(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise AuditError(f"{path.name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise AuditError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_list(folder: Path, name: str, required: bool = True) -> list:
    path = folder / name
    if not path.is_file():
        if required:
            raise AuditError(f"{name}: not found in {folder}")
        return []
    data = bitrix.unwrap(_load(path))
    if not isinstance(data, list):
        raise AuditError(f"{name}: expected a list of records or {{\"result\": [...]}}, got {type(data).__name__}")
    return data


def read_keyed(folder: Path, name: str) -> dict | None:
    """``{"<deal id>": <rows>}``; None when the file is absent."""
    path = folder / name
    if not path.is_file():
        return None
    data = bitrix.unwrap(_load(path))
    if data == []:
        return {}
    if not isinstance(data, dict):
        raise AuditError(f"{name}: expected an object keyed by ID, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


def parse_file(name: str, rows: list, parse_one: Callable, settings: CrmSettings) -> tuple:
    parsed = []
    for i, raw in enumerate(rows):
        try:
            parsed.append(parse_one(raw, settings))
        except BitrixFormatError as exc:
            record_id = raw.get("ID") if isinstance(raw, dict) else None
            raise AuditError(f"{name}: record {i}{f' (ID {record_id})' if record_id else ''}: {exc}") from None
    return tuple(parsed)


def _parse_keyed(name: str, parse: Callable):
    try:
        return parse()
    except BitrixFormatError as exc:
        raise AuditError(f"{name}: {exc}") from None


def _deals(folder: Path, settings: CrmSettings) -> tuple[Deal, ...]:
    contacts = read_keyed(folder, "deal_contacts.json") or {}
    products = read_keyed(folder, "product_rows.json")

    def parse_deal(raw, settings):
        deal_id = str(raw.get("ID")) if isinstance(raw, dict) else ""
        items = _parse_keyed("deal_contacts.json", lambda: bitrix.deal_contacts(contacts.get(deal_id), deal_id))
        rows = None if products is None else _parse_keyed(
            "product_rows.json", lambda: bitrix.deal_product_rows(products.get(deal_id), settings, deal_id))
        return bitrix.deal_from_bitrix(raw, settings, items, rows)

    return parse_file("deals.json", read_list(folder, "deals.json"), parse_deal, settings)


def _users(folder: Path) -> list[dict]:
    return [u for u in read_list(folder, "users.json", required=False) if isinstance(u, dict) and u.get("ID")]


def _user_name(user: dict) -> str:
    return " ".join(str(user.get(k) or "").strip() for k in ("NAME", "LAST_NAME")).strip()


def read_export(folder: Path, settings: CrmSettings) -> Export:
    folder = Path(folder)
    if not folder.is_dir():
        raise AuditError(f"{folder}: not a folder")
    chats = read_keyed(folder, "chat_history.json") or {}
    users = _users(folder)
    return Export(
        deals=_deals(folder, settings),
        activities=parse_file("activities.json", read_list(folder, "activities.json"),
                              bitrix.activity_from_bitrix, settings),
        comments=parse_file("comments.json", read_list(folder, "comments.json"), bitrix.comment_from_bitrix, settings),
        contacts=parse_file("contacts.json", read_list(folder, "contacts.json"), bitrix.contact_from_bitrix, settings),
        leads=parse_file("leads.json", read_list(folder, "leads.json"), bitrix.lead_from_bitrix, settings),
        call_stats=parse_file("call_stats.json", read_list(folder, "call_stats.json", required=False),
                              bitrix.call_stat_from_bitrix, settings),
        chats=_parse_keyed("chat_history.json", lambda: bitrix.chats_from_bitrix(chats, settings)),
        users={str(u["ID"]): _user_name(u) for u in users},
        staff_emails=tuple(str(u["EMAIL"]) for u in users if isinstance(u.get("EMAIL"), str) and u["EMAIL"]),
    )


# --- applying the rules -------------------------------------------------------------------------------

class Timeline:
    """The export indexed by owner: what happened around each deal and lead."""

    def __init__(self, export: Export):
        self.activities: dict[tuple[int, str], list[Activity]] = defaultdict(list)
        for activity in export.activities:
            for owner in activity.owners:
                self.activities[owner].append(activity)
        self.comments: dict[tuple[str, str | None], list[Comment]] = defaultdict(list)
        for comment in export.comments:
            self.comments[comment.entity_type, comment.entity_id].append(comment)
        self.stats = export.call_stats
        self.chats = {c.session_id: c for c in export.chats}

    def history(self, owner_type: int, owner_id: str, entity_type: str) -> History:
        activities = tuple(self.activities.get((owner_type, owner_id), ()))
        ids = {a.id for a in activities}
        origins = {a.origin_id for a in activities if a.origin_id}
        return History(
            activities=activities,
            comments=tuple(self.comments.get((entity_type, owner_id), ())),
            call_stats=tuple(s for s in self.stats if s.activity_id in ids or f"VI_{s.call_id}" in origins),
            chats=tuple(self.chats[a.session_id] for a in activities if a.session_id in self.chats),
        )


@dataclass(frozen=True)
class ManagerLine:
    manager_id: str
    name: str
    counts: dict[str, int]
    burst: bool = False  # many comments written late just before the audit (a pattern, not a violation)

    @property
    def expanded_share(self) -> float | None:
        total = self.counts["comments"]
        return self.counts["expanded_comments"] / total if total else None

    def row(self) -> dict:
        share = self.expanded_share
        return {"assigned_by_id": self.manager_id, "manager": self.name, **self.counts,
                "expanded_share": "" if share is None else f"{share:.2f}", "burst": int(self.burst)}


@dataclass(frozen=True)
class AuditResult:
    as_of: datetime
    export: Export
    deals: tuple[tuple[Deal, DealDecision], ...]
    deal_groups: tuple[DealGroup, ...]
    contacts: tuple[tuple[Contact, ContactCheck], ...]
    contact_groups: tuple[ContactGroup, ...]
    leads: tuple[tuple[Lead, ConversionDecision], ...]  # converted leads only
    managers: tuple[ManagerLine, ...]
    bursts: tuple[Burst, ...] = ()

    def duplicates_of(self, deal_id: str) -> list[str]:
        return sorted({d for g in self.deal_groups if deal_id in g.deal_ids for d in g.deal_ids} - {deal_id})

    @property
    def promises(self) -> list[PromiseCheck]:
        return [p for _, x in self.deals for p in x.promises]

    def reused(self) -> list[tuple[Deal, Touch]]:
        return [(d, t) for d, x in self.deals for t in x.touches if t.why_not == "reused_comment"]


@dataclass(frozen=True)
class AuditSummary:
    deals: int
    incorrect_deals: int
    active_deals: int
    inactive_deals: int
    duplicate_deal_groups: int
    contacts: int
    invalid_contacts: int
    duplicate_contact_groups: int
    leads_converted: int
    leads_converted_not_allowed: int
    files: tuple[Path, ...]
    reused_touches: int = 0
    promises: int = 0
    promises_broken: int = 0
    bursts: tuple[str, ...] = ()  # managers showing the pattern

    def lines(self) -> list[str]:
        return [
            f"deals: {self.deals}, incorrect {self.incorrect_deals}, active {self.active_deals}, "
            f"inactive {self.inactive_deals}, duplicate groups {self.duplicate_deal_groups}",
            f"contacts: {self.contacts}, invalid {self.invalid_contacts}, "
            f"duplicate groups {self.duplicate_contact_groups}",
            f"converted leads: {self.leads_converted}, without a touch and a comment "
            f"{self.leads_converted_not_allowed}",
            f"gaming signals: {self.reused_touches} touches with a reused comment not counted, "
            f"{self.promises_broken} of {self.promises} promised steps without an interaction, "
            f"late comments before the audit: {', '.join(self.bursts) or 'no manager'}",
            *(f"wrote {p}" for p in self.files),
        ]


class Remembering:
    """``judge`` called once for every distinct text of the export; later calls look verdicts up (and
    judge in one call the few texts not seen yet, such as a comment without its repeats)."""

    def __init__(self, judge: Judge, texts):
        self.judge, self.verdicts = judge, {}
        self(list(texts))

    def __call__(self, batch: list[str]) -> list[Judgement]:
        missing = list(dict.fromkeys(t for t in batch if t not in self.verdicts))
        if missing:
            found = list(self.judge(missing))
            if len(found) != len(missing):
                raise ValueError(f"judge returned {len(found)} verdicts for {len(missing)} texts")
            self.verdicts.update(zip(missing, found))
        return [self.verdicts[t] for t in batch]


def all_texts(export: Export, settings: CrmSettings) -> list[str]:
    return [d.comments for d in export.deals] + comment_texts(History(export.activities, export.comments), settings)


def _manager_lines(result_parts: dict, export: Export, verdicts: dict[str, Judgement], settings: CrmSettings,
                   bursts: tuple[Burst, ...]) -> tuple:
    counts: dict[str, Counter] = defaultdict(Counter)
    for key, ids in result_parts.items():
        for manager in ids:
            counts[manager][key] += 1
    for manager, text in _authored_comments(export, settings):
        counts[manager]["comments"] += 1
        counts[manager]["expanded_comments"] += int(verdicts[text].expanded)
    for burst in bursts:
        counts[burst.manager_id]["late_comments"] += burst.late
    patterns = {b.manager_id for b in bursts if b.pattern}
    return tuple(ManagerLine(m, export.users.get(m, ""), {k: counts[m][k] for k in COUNT_COLUMNS}, m in patterns)
                 for m in sorted(counts, key=_id_order))


def _authored_comments(export: Export, settings: CrmSettings):
    """(author, text) for every timeline comment and every note on a call or meeting."""
    written = [(c.author_id, c.text) for c in export.comments if c.author_id and c.text]
    written += [(a.responsible_id, a.description) for a in export.activities
                if a.responsible_id and a.description and a.kind in settings.description_is_comment]
    return written


def _id_order(value: str):
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _judge_deals(export: Export, timeline: "Timeline", verdicts: dict[str, Judgement], settings: CrmSettings,
                 now: datetime) -> tuple[tuple[Deal, DealDecision], ...]:
    """Every deal decided against the texts of the whole export: a comment pasted from another deal of the
    same manager does not count, whichever deal is judged first."""
    histories = {d.id: timeline.history(DEAL, d.id, "deal") for d in export.deals}
    index = ReuseIndex([w for d in export.deals for w in deal_writings(d.id, histories[d.id], settings,
                                                                       d.assigned_by_id)], settings)
    decided = []
    for deal in export.deals:
        history = histories[deal.id]
        own = {t: verdicts[t] for t in deal_texts(deal, history, settings) if t in verdicts}
        decided.append((deal, decide(deal, history, own, settings, now, index)))
    return tuple(decided)


def _bursts(export: Export, timeline: "Timeline", settings: CrmSettings, now: datetime) -> tuple[Burst, ...]:
    lags = [lag for d in export.deals
            for lag in comment_lags(d.id, timeline.history(DEAL, d.id, "deal"), d.assigned_by_id)]
    return find_bursts(lags, now, settings)


def apply_rules(export: Export, judge: Judge, settings: CrmSettings, now: datetime) -> AuditResult:
    judge = Remembering(judge, [])
    verdicts = judge_without_repeats(all_texts(export, settings), judge, settings)
    timeline = Timeline(export)
    deals = _judge_deals(export, timeline, verdicts, settings, now)
    converted = [lead for lead in export.leads if is_converted(lead, settings)]
    leads = tuple((lead, check_conversion(lead, timeline.history(LEAD, lead.id, "lead"), judge, settings,
                                          min(lead.closed, now) if lead.closed else now)) for lead in converted)
    contacts = tuple((c, check_contact(c, settings, export.staff_emails)) for c in export.contacts)
    deal_groups = find_deal_duplicates(export.deals, settings)
    contact_groups = find_contact_duplicates(export.contacts, settings)
    bursts = _bursts(export, timeline, settings, now)
    parts = _counted_parts(deals, deal_groups, contacts, contact_groups, leads)
    return AuditResult(as_of=now, export=export, deals=deals, deal_groups=deal_groups, contacts=contacts,
                       contact_groups=contact_groups, leads=leads,
                       managers=_manager_lines(parts, export, verdicts, settings, bursts), bursts=bursts)


def manager(record) -> str:
    return record.assigned_by_id or ""


def _counted_parts(deals, deal_groups, contacts, contact_groups, leads) -> dict[str, list[str]]:
    """Column → the manager of every record that adds one to it."""
    in_deal_groups = {i for g in deal_groups for i in g.deal_ids}
    in_contact_groups = {i for g in contact_groups for i in g.contact_ids}
    return {
        "deals": [manager(d) for d, _ in deals],
        "incorrect_deals": [manager(d) for d, x in deals if not x.correct],
        "inactive_deals": [manager(d) for d, x in deals if x.status == "open" and not x.active],
        "duplicate_deals": [manager(d) for d, _ in deals if d.id in in_deal_groups],
        "contacts": [manager(c) for c, _ in contacts],
        "invalid_contacts": [manager(c) for c, x in contacts if not x.valid],
        "duplicate_contacts": [manager(c) for c, _ in contacts if c.id in in_contact_groups],
        "leads_converted": [manager(lead) for lead, _ in leads],
        "leads_converted_without_touch": [manager(lead) for lead, x in leads if "no_touch" in x.codes],
        "leads_converted_without_comment": [manager(lead) for lead, x in leads
                                            if x.reasons and "no_touch" not in x.codes],
        "reused_comments": [manager(d) for d, x in deals for t in x.touches if t.why_not == "reused_comment"],
        "promises": [manager(d) for d, x in deals for _ in x.promises],
        "promises_kept": [manager(d) for d, x in deals for p in x.promises if p.state == "kept"],
        "promises_broken": [manager(d) for d, x in deals for p in x.promises if p.state == "broken"],
    }


# --- writing the report ---------------------------------------------------------------------------------

def deal_row(deal: Deal, decision: DealDecision, result: AuditResult) -> dict:
    last = decision.last_touch
    return {
        "deal_id": deal.id, "title": deal.title, "assigned_by_id": deal.assigned_by_id or "",
        "manager": result.export.users.get(deal.assigned_by_id or "", ""), "status": decision.status,
        "correct": int(decision.correct), "violations": " ".join(decision.codes), "active": int(decision.active),
        "active_until": decision.active_until.isoformat() if decision.active_until else "",
        "days_left": "" if decision.days_left is None else decision.days_left,
        "last_touch_at": last.at.isoformat() if last and last.at else "", "last_touch_kind": last.kind if last else "",
        "last_touch_activity_id": last.activity_id if last else "",
        "counted_touches": sum(t.counted for t in decision.touches), "interactions": len(decision.touches),
        "duplicate_of": " ".join(result.duplicates_of(deal.id)),
        "reused_touches": sum(t.why_not == "reused_comment" for t in decision.touches),
        "promises_broken": sum(p.state == "broken" for p in decision.promises),
    }


# How the CSV files are written: `excel-ru` opens by a double click in Excel with Russian regional settings
# (their list separator is «;»), `comma` is plain RFC 4180. Both carry a UTF-8 BOM, so Excel reads Cyrillic.
CSV_DIALECTS = {"excel-ru": ";", "comma": ","}


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict], dialect: str = "excel-ru") -> Path:
    with fileio.replacing(path, encoding="utf-8-sig") as f:
        writer = csv.DictWriter(f, fieldnames=columns, delimiter=CSV_DIALECTS[dialect])
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_report(result: AuditResult, out_dir: Path, settings: CrmSettings,
                 csv_dialect: str = "excel-ru") -> tuple[Path, ...]:
    out_dir.mkdir(parents=True, exist_ok=True)
    report = write_csv(out_dir / "report.csv", REPORT_COLUMNS, [deal_row(d, x, result) for d, x in result.deals],
                       csv_dialect)
    managers = write_csv(out_dir / "managers.csv", MANAGER_COLUMNS, [m.row() for m in result.managers], csv_dialect)
    page = out_dir / "report.html"
    fileio.write_text(page, render_report(result, settings))
    return report, managers, page


def summarize(result: AuditResult, files: tuple[Path, ...]) -> AuditSummary:
    decisions = [x for _, x in result.deals]
    return AuditSummary(
        deals=len(decisions), incorrect_deals=sum(not x.correct for x in decisions),
        active_deals=sum(x.active for x in decisions),
        inactive_deals=sum(x.status == "open" and not x.active for x in decisions),
        duplicate_deal_groups=len(result.deal_groups), contacts=len(result.contacts),
        invalid_contacts=sum(not x.valid for _, x in result.contacts),
        duplicate_contact_groups=len(result.contact_groups), leads_converted=len(result.leads),
        leads_converted_not_allowed=sum(not x.allowed for _, x in result.leads), files=files,
        reused_touches=len(result.reused()), promises=len(result.promises),
        promises_broken=sum(p.state == "broken" for p in result.promises),
        bursts=tuple(b.manager_id for b in result.bursts if b.pattern))


def run_audit(export_dir, out_dir, judge: Judge, now: datetime | None = None,
              settings: CrmSettings | None = None, csv_dialect: str = "excel-ru") -> AuditSummary:
    """Read the export in ``export_dir``, apply the rules as of ``now``, write the report to ``out_dir``."""
    settings = settings or load_settings()
    export = read_export(Path(export_dir), settings)
    result = apply_rules(export, judge, settings, aware(now, settings))
    return summarize(result, write_report(result, Path(out_dir), settings, csv_dialect))
