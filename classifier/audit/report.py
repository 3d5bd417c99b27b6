"""``crmqc audit DIR``: the CRM rules over a folder of Bitrix24 REST exports.

Reads the lists the list methods return (``deals.json``, ``activities.json``, ``comments.json``,
``contacts.json``, ``leads.json``; each a JSON list or the ``{"result": [...]}`` envelope) and,
when present, ``product_rows.json`` and ``deal_contacts.json`` (deal ID → rows),
``call_stats.json``, ``chat_history.json`` (session ID → history), and for names instead of IDs
``users.json`` (``user.get``), ``statuses.json`` (``crm.status.list``) and ``deal_fields.json``
(``crm.deal.fields`` or ``crm.deal.userfield.list``: the product-group items). Writes ``report.csv``
(a decision per deal), ``managers.csv`` (counts and shares per ASSIGNED_BY_ID) and a self-contained
``report.html``, and keeps the run (:mod:`classifier.audit.runs`) so that the next report shows the
change per manager.
"""

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
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
from .html import active_until_note, render_report
from .names import Names, group_names, stage_names, user_name
from .runs import RunHistory, load_history, save_run

REQUIRED = ("deals.json", "activities.json", "comments.json", "contacts.json", "leads.json")
REPORT_COLUMNS = ("deal_id", "title", "assigned_by_id", "manager", "status", "correct", "violations", "active",
                  "active_until", "days_left", "last_touch_at", "last_touch_kind", "last_touch_activity_id",
                  "counted_touches", "interactions", "duplicate_of", "reused_touches", "promises_broken", "stage",
                  "contact", "product_group", "active_until_note", "url")
COUNT_COLUMNS = ("deals", "open_deals", "won_deals", "lost_deals", "incorrect_deals", "inactive_deals",
                 "duplicate_deals", "contacts", "invalid_contacts", "duplicate_contacts", "leads_converted",
                 "leads_converted_without_touch", "leads_converted_without_comment", "comments", "expanded_comments",
                 "counted_touches", "reused_comments", "promises", "promises_kept", "promises_broken", "late_comments")
# share → (part, whole): inactive deals are counted among the open ones, closed deals are not checked for activity
SHARES = {
    "incorrect_share": ("incorrect_deals", "deals"),
    "inactive_share": ("inactive_deals", "open_deals"),
    "duplicate_share": ("duplicate_deals", "deals"),
    "invalid_contacts_share": ("invalid_contacts", "contacts"),
    "expanded_share": ("expanded_comments", "comments"),
    "reused_share": ("reused_comments", "touches_with_comment"),
    "promises_broken_share": ("promises_broken", "promises_checked"),
}
MANAGER_COLUMNS = ("assigned_by_id", "manager", *COUNT_COLUMNS, *SHARES, "burst")


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
    stages: dict[str, str] = field(default_factory=dict)  # deal STATUS_ID → name (statuses.json)
    lead_statuses: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)  # product-group option ID → label (deal_fields.json)


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


def read_any(folder: Path, name: str):
    """The unwrapped content of an optional file, None when absent."""
    path = folder / name
    return bitrix.unwrap(_load(path)) if path.is_file() else None


def _groups(folder: Path, settings: CrmSettings) -> dict[str, str]:
    fields = read_any(folder, "deal_fields.json")
    if fields is not None and not isinstance(fields, (dict, list)):
        raise AuditError("deal_fields.json: expected the crm.deal.fields object or crm.deal.userfield.list rows, "
                         f"got {type(fields).__name__}")
    return group_names(fields, settings.product_group_field)


def read_export(folder: Path, settings: CrmSettings) -> Export:
    folder = Path(folder)
    if not folder.is_dir():
        raise AuditError(f"{folder}: not a folder")
    chats = read_keyed(folder, "chat_history.json") or {}
    users = _users(folder)
    stages, lead_statuses = stage_names(read_list(folder, "statuses.json", required=False))
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
        users={str(u["ID"]): user_name(u) for u in users},
        staff_emails=tuple(str(u["EMAIL"]) for u in users if isinstance(u.get("EMAIL"), str) and u["EMAIL"]),
        stages=stages, lead_statuses=lead_statuses, groups=_groups(folder, settings),
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

    def whole(self, key: str) -> int:
        if key == "touches_with_comment":  # touches a comment would have made: counted and reused
            return self.counts["counted_touches"] + self.counts["reused_comments"]
        if key == "promises_checked":  # kept or broken: a pending promise is not due yet
            return self.counts["promises_kept"] + self.counts["promises_broken"]
        return self.counts[key]

    def share(self, name: str) -> float | None:
        part, whole = SHARES[name]
        total = self.whole(whole)
        return self.counts[part] / total if total else None

    @property
    def expanded_share(self) -> float | None:
        return self.share("expanded_share")

    def row(self) -> dict:
        return {"assigned_by_id": self.manager_id, "manager": self.name, **self.counts,
                **{name: self.share(name) for name in SHARES}, "burst": int(self.burst)}


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
    names: Names = field(default_factory=Names)
    period: tuple[date, date] | None = None  # the first and the last day the export holds records of

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
    run: Path | None = None  # where this run was kept
    previous_run: str | None = None  # the as_of of the run it was compared with
    skipped_runs: tuple[str, ...] = ()

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
            *([f"kept the run in {self.run} (compared with the run as of {self.previous_run})"
               if self.previous_run else f"kept the run in {self.run} (the first one there)"] if self.run else []),
            *(f"skipped {name} in the runs folder: not an audit run" for name in self.skipped_runs),
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
                       managers=_manager_lines(parts, export, verdicts, settings, bursts), bursts=bursts,
                       names=names_of(export, settings), period=period_of(export, settings, now))


def names_of(export: Export, settings: CrmSettings) -> Names:
    return Names(users=export.users, stages=export.stages, lead_statuses=export.lead_statuses,
                 groups={**settings.product_groups, **export.groups},
                 contacts={c.id: c.full_name for c in export.contacts if c.full_name}, portal_url=settings.portal_url)


def period_of(export: Export, settings: CrmSettings, now: datetime) -> tuple[date, date] | None:
    """The first and last calendar day (portal time) of what the export records up to ``now``."""
    moments = [d.created for d in export.deals] + [a.start for a in export.activities]
    moments += [c.created for c in export.comments] + [lead.created for lead in export.leads]
    days = sorted(m.astimezone(settings.portal_tz).date() for m in moments if m and m <= now)
    return (days[0], days[-1]) if days else None


def manager(record) -> str:
    return record.assigned_by_id or ""


def _counted_parts(deals, deal_groups, contacts, contact_groups, leads) -> dict[str, list[str]]:
    """Column → the manager of every record that adds one to it."""
    in_deal_groups = {i for g in deal_groups for i in g.deal_ids}
    in_contact_groups = {i for g in contact_groups for i in g.contact_ids}
    return {
        "deals": [manager(d) for d, _ in deals],
        "open_deals": [manager(d) for d, x in deals if x.status == "open"],
        "won_deals": [manager(d) for d, x in deals if x.status == "won"],
        "lost_deals": [manager(d) for d, x in deals if x.status == "lost"],
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
        "counted_touches": [manager(d) for d, x in deals for t in x.touches if t.counted],
        "reused_comments": [manager(d) for d, x in deals for t in x.touches if t.why_not == "reused_comment"],
        "promises": [manager(d) for d, x in deals for _ in x.promises],
        "promises_kept": [manager(d) for d, x in deals for p in x.promises if p.state == "kept"],
        "promises_broken": [manager(d) for d, x in deals for p in x.promises if p.state == "broken"],
    }


# --- writing the report ---------------------------------------------------------------------------------

def deal_row(deal: Deal, decision: DealDecision, result: AuditResult, settings: CrmSettings) -> dict:
    last = decision.last_touch
    names = result.names
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
        "stage": names.stage(deal.stage_id), "contact": ", ".join(names.contact(c) for c in deal.contact_ids),
        "product_group": ", ".join(names.group(g) for g in deal.product_groups),
        "active_until_note": active_until_note(deal, decision, settings), "url": names.url("deal", deal.id),
    }


# How the CSV files are written: `excel-ru` opens by a double click in Excel with Russian regional settings
# (their list separator is «;»), `comma` is plain RFC 4180. Both carry a UTF-8 BOM, so Excel reads Cyrillic.
CSV_DIALECTS = {"excel-ru": ";", "comma": ","}


def _cell(value, dialect: str):
    """A share as «0,50» for Russian Excel (its decimal separator is a comma), «0.50» for plain CSV."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.2f}"
        return text.replace(".", ",") if dialect == "excel-ru" else text
    return value


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict], dialect: str = "excel-ru") -> Path:
    with fileio.replacing(path, encoding="utf-8-sig") as f:
        writer = csv.DictWriter(f, fieldnames=columns, delimiter=CSV_DIALECTS[dialect])
        writer.writeheader()
        writer.writerows({k: _cell(v, dialect) for k, v in row.items()} for row in rows)
    return path


def write_report(result: AuditResult, out_dir: Path, settings: CrmSettings, csv_dialect: str = "excel-ru",
                 history: RunHistory | None = None) -> tuple[Path, ...]:
    out_dir.mkdir(parents=True, exist_ok=True)
    report = write_csv(out_dir / "report.csv", REPORT_COLUMNS,
                       [deal_row(d, x, result, settings) for d, x in result.deals], csv_dialect)
    managers = write_csv(out_dir / "managers.csv", MANAGER_COLUMNS, [m.row() for m in result.managers], csv_dialect)
    page = out_dir / "report.html"
    fileio.write_text(page, render_report(result, settings, history or RunHistory(), run_record(result)))
    return report, managers, page


def run_record(result: AuditResult) -> dict:
    """What the next run compares itself with: per manager, every count and share of this one."""
    return {
        "version": 1, "as_of": result.as_of.isoformat(),
        "period": [d.isoformat() for d in result.period] if result.period else None,
        "deals": len(result.deals),
        "managers": {m.manager_id: {"name": m.name, **m.counts, **{k: m.share(k) for k in SHARES},
                                    "burst": m.burst} for m in result.managers},
    }


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
              settings: CrmSettings | None = None, csv_dialect: str = "excel-ru", runs_dir=None) -> AuditSummary:
    """Read the export in ``export_dir``, apply the rules as of ``now``, write the report to ``out_dir``
    and keep the run in ``runs_dir`` (default ``out_dir/runs``), where the previous runs are read from."""
    settings = settings or load_settings()
    export = read_export(Path(export_dir), settings)
    result = apply_rules(export, judge, settings, aware(now, settings))
    runs = Path(runs_dir) if runs_dir is not None else Path(out_dir) / "runs"
    history = load_history(runs, result.as_of)
    summary = summarize(result, write_report(result, Path(out_dir), settings, csv_dialect, history))
    kept = save_run(runs, run_record(result))
    return replace(summary, run=kept, previous_run=history.previous["as_of"] if history.previous else None,
                   skipped_runs=history.skipped)
