"""Reconciling: events are the fast path, the sweep is the guarantee (BITRIX24_LIVE.md 1.5).

:func:`full` reads every deal, open lead and contact (a first sync, and weekly: it also finds the
deals deleted on the portal, which no increment can see); :func:`incremental` reads what changed
since the watermarks (deals and leads by ``DATE_MODIFY``, activities by ``LAST_UPDATED``, timeline
comments of open deals by ``CREATED``, since a comment may not touch its deal). Both only put objects
into the inbox: the worker judges them on its one path, so a sweep and an event never disagree.
"""

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from .gateway import BATCH_MAX, BitrixError, Gateway
from .store import Store

OVERLAP = timedelta(minutes=10)  # read a little before the watermark: clocks and slow commits
FULL_AT, INCREMENTAL_AT = "sweep:full:at", "sweep:incremental:at"


@dataclass
class SweepReport:
    kind: str
    queued: dict[str, int] = field(default_factory=dict)
    contacts_judged: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "queued": self.queued, "contacts_judged": self.contacts_judged,
                "seconds": round(self.seconds, 1)}


def portal_now(gateway: Gateway) -> str:
    """The portal's own clock (``time.date_start`` of an answer), so watermarks never depend on ours."""
    answer = gateway.call("server.time")
    return str(answer.get("result") or answer.get("time", {}).get("date_start"))


def _ids(rows) -> list[str]:
    return [str(r.get("ID")) for r in rows if r.get("ID") not in (None, "")]


def _earlier(moment: str) -> str:
    return (datetime.fromisoformat(moment) - OVERLAP).isoformat()


def full(store: Store, gateway: Gateway, judge_contact=None) -> SweepReport:
    """Every deal (open ones judged, vanished ones forgotten), every open lead, every contact."""
    started, report = time.monotonic(), SweepReport("full")
    stamp = portal_now(gateway)
    deals = list(gateway.list_all("crm.deal.list", {"select": ["ID", "STAGE_SEMANTIC_ID"]}))
    present = {str(d["ID"]) for d in deals}
    open_deals = [str(d["ID"]) for d in deals if str(d.get("STAGE_SEMANTIC_ID") or "P") == "P"]
    gone = sorted(store.known_deals() - present)
    closed_known = sorted((store.known_deals() & present) - set(open_deals))
    report.queued["deal"] = store.enqueue([("deal", i, "SWEEP") for i in open_deals + closed_known + gone])
    leads = gateway.list_all("crm.lead.list", {"filter": {"STATUS_SEMANTIC_ID": "P"}, "select": ["ID"]})
    report.queued["lead"] = store.enqueue([("lead", i, "SWEEP") for i in _ids(leads)])
    report.contacts_judged = _contacts(gateway, {}, judge_contact)
    for name in ("deal", "lead", "activity", "comment", "contact"):
        store.set_watermark(f"{name}:since", stamp)
    store.set_watermark(FULL_AT, str(time.time()))
    store.set_watermark(INCREMENTAL_AT, str(time.time()))
    report.seconds = time.monotonic() - started
    return report


def _contacts(gateway: Gateway, filters: dict, judge_contact) -> int:
    if judge_contact is None:
        return 0
    count = 0
    for row in gateway.list_all("crm.contact.list", {"filter": filters, "select": ["*", "PHONE", "EMAIL"]}):
        judge_contact(str(row["ID"]), row)
        count += 1
    return count


def incremental(store: Store, gateway: Gateway, judge_contact=None, today: str | None = None,
                warn_days: int = 7) -> SweepReport:
    """What changed since the watermarks, plus the deals whose active-until date is near or past."""
    started, report = time.monotonic(), SweepReport("incremental")
    stamp = portal_now(gateway)
    since = {name: store.watermark(f"{name}:since") for name in ("deal", "lead", "activity", "comment", "contact")}
    if not all(since.values()):
        return full(store, gateway, judge_contact)
    deals = gateway.list_all("crm.deal.list", {"filter": {">DATE_MODIFY": _earlier(since["deal"])}, "select": ["ID"]})
    queued = [("deal", i, "SWEEP") for i in _ids(deals)]
    leads = gateway.list_all("crm.lead.list", {"filter": {">DATE_MODIFY": _earlier(since["lead"])}, "select": ["ID"]})
    queued += [("lead", i, "SWEEP") for i in _ids(leads)]
    activities = gateway.list_all("crm.activity.list", {"filter": {">LAST_UPDATED": _earlier(since["activity"])},
                                                        "select": ["ID", "OWNER_TYPE_ID", "OWNER_ID"]})
    for a in activities:
        kind = {"2": "deal", "1": "lead"}.get(str(a.get("OWNER_TYPE_ID")))
        if kind and a.get("OWNER_ID"):
            queued.append((kind, str(a["OWNER_ID"]), "SWEEP"))
    queued += [("deal", i, "SWEEP") for i in _deals_with_new_comments(gateway, _earlier(since["comment"]))]
    if today:
        horizon = (date.fromisoformat(today) + timedelta(days=warn_days)).isoformat()
        queued += [("deal", i, "SWEEP_DUE") for i in store.deals_due(horizon)]
    unique = list({(t, i): (t, i, e) for t, i, e in queued}.values())
    for kind in ("deal", "lead"):
        report.queued[kind] = sum(1 for t, _, _ in unique if t == kind)
    store.enqueue(unique)
    report.contacts_judged = _contacts(gateway, {">DATE_MODIFY": _earlier(since["contact"])}, judge_contact)
    for name in since:
        store.set_watermark(f"{name}:since", stamp)
    store.set_watermark(INCREMENTAL_AT, str(time.time()))
    report.seconds = time.monotonic() - started
    return report


def _deals_with_new_comments(gateway: Gateway, since: str) -> list[str]:
    """``crm.timeline.comment.list`` needs one deal per call: 50 open deals per batch request."""
    open_deals = _ids(gateway.list_all("crm.deal.list", {"filter": {"STAGE_SEMANTIC_ID": "P"}, "select": ["ID"]}))
    found = []
    for start in range(0, len(open_deals), BATCH_MAX):
        chunk = open_deals[start:start + BATCH_MAX]
        got = gateway.batch({d: ("crm.timeline.comment.list", {
            "filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": d, ">CREATED": since}, "select": ["ID"]}) for d in chunk})
        found += [d for d, rows in got.items() if rows and not isinstance(rows, BitrixError)]
    return found


def due(store: Store, name: str, every_seconds: float, now: float | None = None) -> bool:
    """Whether the sweep ``name`` (FULL_AT or INCREMENTAL_AT) is due."""
    last = store.watermark(name)
    return last is None or (now or time.time()) - float(last) >= every_seconds
