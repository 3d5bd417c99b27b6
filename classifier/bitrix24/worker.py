"""The worker: takes objects from the inbox, re-reads them, runs the CRM rules, records and writes back.

Every object that changed resolves to the deal or lead it belongs to (a comment or a call to its deal),
which is judged whole: the rules need the full history anyway, and judging the whole deal again is
what makes the work idempotent — the same state gives the same result, and an unchanged result is
not written again.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..checker import CommentChecker
from ..crm import bitrix
from ..crm.bitrix import BitrixFormatError
from ..crm.contacts import check_contact
from ..crm.deals import evaluate_deal, portal_zone
from ..crm.gaming import Written
from ..crm.leads import check_conversion
from ..crm.settings import CrmSettings
from ..crm.touches import comment_candidates
from . import sweep
from .gateway import BitrixError, Gateway, Unavailable
from .reads import DEAL, LEAD, Bundle, read_one, read_owner
from .settings import Bitrix24Settings
from .store import Judged, Store
from .writeback import Writer, plan

log = logging.getLogger("crmqc.bitrix24")
RETRY_SECONDS = (5, 30, 120, 600, 1800, 3600)
NOT_LOGGED = frozenset({"in_future", "no_date", "not_interaction", "no_comment"})  # nothing a manager wrote


@dataclass
class Stats:
    taken: int = 0
    queued: int = 0  # a comment or an activity sent its deal to the inbox
    judged: int = 0
    skipped: int = 0
    failed: int = 0
    writes: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "Stats") -> None:
        for name in ("taken", "queued", "judged", "skipped", "failed", "writes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


class Worker:
    def __init__(self, store: Store, gateway: Gateway, checker: Callable[[], CommentChecker], crm: CrmSettings,
                 settings: Bitrix24Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 name: str = ""):
        self.store, self.gateway, self.checker, self.crm, self.settings = store, gateway, checker, crm, settings
        self.clock, self.name = clock, name
        self.writer = Writer(store, gateway, settings)
        self.own = settings.user_id

    # --- the inbox ---------------------------------------------------------------------------------------

    def run_once(self, limit: int = 50) -> Stats:
        """Process what is due in the inbox now, at most ``limit`` objects."""
        stats = Stats()
        for item in self.store.claim(limit, self.settings.lease_seconds, worker=self.name):
            stats.taken += 1
            try:
                if self.store.consume_echoes(item):
                    stats.skipped += 1
                else:
                    stats.add(self.process(item.entity_type, item.entity_id, item.event))
            except Exception as exc:  # one object that cannot be judged must not stop the rest
                delay = RETRY_SECONDS[min(item.attempts, len(RETRY_SECONDS) - 1)]
                self.store.failed(item, f"{type(exc).__name__}: {exc}", delay if isinstance(exc, Unavailable)
                                  else delay * 2)
                stats.failed += 1
                stats.errors.append(f"{item.entity_type} {item.entity_id}: {exc}")
                if isinstance(exc, (BitrixError, BitrixFormatError)):
                    log.warning("%s %s failed (attempt %d): %s", item.entity_type, item.entity_id,
                                item.attempts + 1, exc)
                else:
                    log.exception("%s %s failed (attempt %d)", item.entity_type, item.entity_id, item.attempts + 1)
                continue
            self.store.done(item)
        return stats

    def drain(self, limit: int = 50, max_rounds: int = 10_000) -> Stats:
        """Process until nothing is due (failed rows wait for their retry time)."""
        total = Stats()
        for _ in range(max_rounds):
            stats = self.run_once(limit)
            total.add(stats)
            if not stats.taken:
                break
        return total

    # --- one object ---------------------------------------------------------------------------------------

    def process(self, entity_type: str, entity_id: str, event: str = "") -> Stats:
        if entity_type == "deal":
            return self.judge_owner(DEAL, entity_id)
        if entity_type == "lead":
            return self.judge_owner(LEAD, entity_id)
        if entity_type == "contact":
            return self.judge_contact(entity_id)
        if entity_type == "comment":
            return self._via_comment(entity_id, event)
        if entity_type == "activity":
            return self._via_activity(entity_id, event)
        if entity_type == "call":
            return self._via_call(entity_id)
        return Stats(skipped=1)

    def _queue_owner(self, owner_type: int, owner_id: str, cause: str) -> Stats:
        """Judge the deal or lead in the inbox's next round, so that the call, its activity and its comment,
        which arrive as three events, cost one judgement of the deal."""
        kind = "deal" if owner_type == DEAL else "lead"
        self.store.enqueue([(kind, owner_id, f"VIA_{cause}")])
        return Stats(queued=1)

    def _owners_known(self, kind: str, entity_id: str) -> Stats:
        """A deleted comment or activity: judge again the deal it was on, if we saw it there."""
        deal = self.store.deal_of(kind, entity_id)
        return self._queue_owner(DEAL, deal, kind.upper()) if deal else Stats(skipped=1)

    def _via_comment(self, comment_id: str, event: str) -> Stats:
        comment = None if event.endswith("DELETE") else read_one(self.gateway, "crm.timeline.comment.get", comment_id)
        if comment is None:
            return self._owners_known("comment", comment_id)
        if str(comment.get("AUTHOR_ID") or "") == self.own:
            return Stats(skipped=1)
        kind, owner = str(comment.get("ENTITY_TYPE") or "").lower(), str(comment.get("ENTITY_ID") or "")
        if kind in ("deal", "lead") and owner:
            return self._queue_owner(DEAL if kind == "deal" else LEAD, owner, "COMMENT")
        return Stats(skipped=1)

    def _via_activity(self, activity_id: str, event: str) -> Stats:
        activity = None if event.endswith("DELETE") else read_one(self.gateway, "crm.activity.get", activity_id)
        if activity is None:
            return self._owners_known("activity", activity_id)
        if str(activity.get("AUTHOR_ID") or "") == self.own and str(activity.get("PROVIDER_ID") or "") == "CRM_TODO":
            return Stats(skipped=1)  # our own to-do coming back as an event
        parsed = bitrix.activity_from_bitrix(activity, self.crm)
        stats = Stats()
        for owner_type, owner_id in parsed.owners:
            if owner_type in (DEAL, LEAD):
                stats.add(self._queue_owner(owner_type, owner_id, "ACTIVITY"))
        if not stats.queued:
            stats.skipped += 1
        return stats

    def _via_call(self, call_id: str) -> Stats:
        rows = self.gateway.result("voximplant.statistic.get", {"FILTER": {"CALL_ID": call_id}}) or []
        activity = next((str(r.get("CRM_ACTIVITY_ID")) for r in rows if r.get("CRM_ACTIVITY_ID")), None)
        return self._via_activity(activity, "") if activity else Stats(skipped=1)

    # --- judging -------------------------------------------------------------------------------------------

    def judge_owner(self, owner_type: int, owner_id: str) -> Stats:
        bundle = read_owner(self.gateway, owner_type, owner_id, self.own)
        kind = "deal" if owner_type == DEAL else "lead"
        if bundle.record is None:
            self.store.forget(kind, owner_id)
            self.store.record(f"{kind}_gone", owner_id, {"deleted": True}, deal_id=owner_id)
            return Stats(judged=1)
        if owner_type == DEAL:
            return self._judge_deal(owner_id, bundle)
        return self._judge_lead(owner_id, bundle)

    def _history(self, bundle: Bundle):
        return bitrix.history_from_bitrix(self.crm, bundle.activities, bundle.comments, bundle.call_stats,
                                          bundle.chat_history)

    def _judge_deal(self, deal_id: str, bundle: Bundle) -> Stats:
        checker = self.checker()
        crm = self.crm
        contacts = bitrix.deal_contacts(bundle.contacts)
        rows = bitrix.deal_product_rows(bundle.product_rows, crm) if bundle.product_rows is not None else None
        deal = bitrix.deal_from_bitrix(bundle.record, crm, contacts, rows)
        history = self._history(bundle)
        now = self.clock()
        judged: dict[str, object] = {}

        def judge(texts: list[str]) -> list:
            """classify_many, remembered: the comments the rules judged are the ones the timeline entries show."""
            missing = [t for t in dict.fromkeys(texts) if t not in judged]
            if missing:
                judged.update(zip(missing, checker.classify_many(missing, evidence=True)))
            return [judged[t] for t in texts]

        decision = evaluate_deal(deal, history, judge, crm, now, other_comments=self._written_elsewhere(deal, history))
        logged = [(touch, text) for touch in decision.touches if (text := self._comment_of(touch, history))]
        verdicts = judge([text for _, text in logged])
        pairs = [(t, v if t.comment_verdict is not None else None) for (t, _), v in zip(logged, verdicts)]
        version = checker.model_version
        records = [Judged("comment", touch.comment_id or f"note-{touch.activity_id}",
                           {"text": text, "touch": touch.to_dict(), "created": self._written_at(touch, history),
                            **verdict.to_dict()},
                           deal_id, version, author=self._author_of(touch, history) or deal.assigned_by_id or "")
                   for (touch, text), verdict in zip(logged, verdicts)]
        records += [Judged("activity", a.id, {"kind": a.kind}, deal_id) for a in history.activities]
        records.append(Judged("deal", deal_id, decision.to_dict(), deal_id, version,
                               decision.active_until.isoformat() if decision.active_until else ""))
        self.store.record_many(records)
        today = now.astimezone(portal_zone(deal, crm)).date()
        sent = self.writer.apply(plan(decision, bundle.record, pairs, self.settings, today))
        return Stats(judged=1, writes=sent)

    @staticmethod
    def _author_of(touch, history) -> str | None:
        if touch.comment_id:
            return next((c.author_id for c in history.comments if c.id == touch.comment_id), None)
        return next((a.responsible_id for a in history.activities if a.id == touch.activity_id), None)

    @staticmethod
    def _written_at(touch, history) -> str | None:
        if touch.comment_id:
            moment = next((c.created for c in history.comments if c.id == touch.comment_id), None)
        else:
            moment = touch.at
        return moment.isoformat() if moment else None

    def _written_elsewhere(self, deal, history) -> list[Written]:
        """What the deal's manager and its comments' authors wrote on other deals (from the verdict history),
        so that a comment pasted from another deal does not count here (``reused_comment``)."""
        authors = {c.author_id for c in history.comments if c.author_id} | {deal.assigned_by_id} - {None}
        found = []
        for author in sorted(a for a in authors if a):
            for key, other_deal, result in self.store.written_by(author, deal.id):
                created = datetime.fromisoformat(result["created"]) if result.get("created") else None
                kind, ref = ("note", key.removeprefix("note-")) if key.startswith("note-") else ("comment", key)
                found.append(Written(kind, ref, other_deal, author, created, str(result.get("text", ""))))
        return found

    def _comment_of(self, touch, history) -> str:
        """The comment a timeline entry is about: the judged one, or the first written about a failed touch."""
        if touch.why_not in NOT_LOGGED:
            return ""
        if touch.comment_verdict is not None:
            if touch.comment_id:
                return next((c.text for c in history.comments if c.id == touch.comment_id), "")
            return next((a.description for a in history.activities if a.id == touch.activity_id), "")
        activity = next(a for a in history.activities if a.id == touch.activity_id)
        found = comment_candidates(activity, history.comments, self.crm)
        return found[0][1] if found else ""

    def _judge_lead(self, lead_id: str, bundle: Bundle) -> Stats:
        checker = self.checker()
        lead = bitrix.lead_from_bitrix(bundle.record, self.crm)
        history = self._history(bundle)
        decision = check_conversion(lead, history, checker.classify_many, self.crm, lead.closed or self.clock())
        self.store.record("lead", lead_id, decision.to_dict(), model_version=checker.model_version)
        return Stats(judged=1)

    def judge_contact(self, contact_id: str, raw: dict | None = None) -> Stats:
        raw = raw if raw is not None else read_one(self.gateway, "crm.contact.get", contact_id)
        if raw is None:
            self.store.forget("contact", contact_id)
            return Stats(judged=1)
        check = check_contact(bitrix.contact_from_bitrix(raw, self.crm), self.crm)
        self.store.record("contact", contact_id, check.to_dict())
        return Stats(judged=1)


class Loop:
    """The worker's life: sweeps when they are due, the inbox in between, a pause when idle."""

    def __init__(self, worker: Worker, poll_seconds: float = 2.0, sleep: Callable[[float], None] | None = None):
        self.worker, self.poll_seconds = worker, poll_seconds
        self.sleep = sleep or time.sleep
        self.sweep_failed_at = 0.0

    def sweep_if_due(self) -> sweep.SweepReport | None:
        w, s = self.worker, self.worker.settings
        if time.time() - self.sweep_failed_at < 300:
            return None
        try:
            if sweep.due(w.store, sweep.FULL_AT, s.full_days * 86400):
                return sweep.full(w.store, w.gateway, w.judge_contact)
            if sweep.due(w.store, sweep.INCREMENTAL_AT, s.incremental_hours * 3600):
                today = w.clock().astimezone(w.crm.portal_tz).date().isoformat()
                return sweep.incremental(w.store, w.gateway, w.judge_contact, today, s.warn_days)
        except Exception:  # a sweep that fails is tried again later; events keep being handled meanwhile
            self.sweep_failed_at = time.time()
            log.exception("sweep failed, next try in 5 minutes")
        return None

    def run(self, should_stop: Callable[[], bool]) -> Stats:
        total = Stats()
        while not should_stop():
            report = self.sweep_if_due()
            if report is not None:
                log.info("sweep %s", report.to_dict())
            stats = self.worker.run_once()
            total.add(stats)
            if stats.taken:
                log.info("took %d, judged %d, skipped %d, failed %d, wrote %d", stats.taken, stats.judged,
                         stats.skipped, stats.failed, stats.writes)
            else:
                self.sleep(self.poll_seconds)
        return total
