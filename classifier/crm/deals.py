"""Deal rules: correct (mandatory fields), active (a touch with an expanded comment every 2 months).

An open correct deal is active while ``now`` ≤ ``active_until`` = the date of its latest touch (or
of its creation, whichever is later) + the configured calendar months. Dates are the portal's
calendar days: the offset of the deal's DATE_CREATE, else the configured one.

A comment that repeats an earlier one — on this deal, or the same manager's on another deal — does not
make a touch (``reused_comment``, :mod:`classifier.crm.gaming`); a comment is judged without the words it
repeats inside itself.
"""

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from .gaming import (
    PromiseCheck,
    ReuseIndex,
    Written,
    check_promises,
    comment_of,
    deal_writings,
    judge_without_repeats,
    note_of,
)
from .records import Activity, Deal, History, Judge, Judgement, Violation
from .settings import CrmSettings
from .touches import ReuseCheck, Touch, assess_touches, comment_texts

OPEN, WON, LOST = "open", "won", "lost"
SEMANTICS = {"P": OPEN, "S": WON, "F": LOST}


@dataclass(frozen=True)
class DealDecision:
    deal_id: str
    status: str
    correct: bool
    violations: tuple[Violation, ...]
    active: bool
    active_until: date | None
    days_left: int | None
    last_touch: Touch | None
    touches: tuple[Touch, ...]
    promises: tuple[PromiseCheck, ...] = ()  # steps the counted comments of an open deal promised

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(v.code for v in self.violations)

    def to_dict(self) -> dict:
        last = self.last_touch
        return {
            "deal_id": self.deal_id,
            "status": self.status,
            "correct": self.correct,
            "violations": [v.to_dict() for v in self.violations],
            "active": self.active,
            "active_until": self.active_until.isoformat() if self.active_until else None,
            "days_left": self.days_left,
            "last_touch": None if last is None else {
                "activity_id": last.activity_id, "kind": last.kind, "at": last.at.isoformat() if last.at else None,
                "comment_id": last.comment_id, "comment_verdict": last.comment_verdict},
            "touches": [t.to_dict() for t in self.touches],
            "promises": [p.to_dict() for p in self.promises],
        }


def add_months(day: date, months: int) -> date:
    """Calendar months: 31 Dec + 2 → 28 (29) Feb."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def deal_status(deal: Deal, settings: CrmSettings) -> str:
    if deal.stage_semantic in SEMANTICS:
        return SEMANTICS[deal.stage_semantic]
    code = deal.stage_id.rsplit(":", 1)[-1]  # «C1:WON» in pipeline 1
    if code in settings.won_stages:
        return WON
    return LOST if code in settings.lost_stages else OPEN


# --- correct ------------------------------------------------------------------------------------------

def _has_product(deal: Deal) -> bool:
    return any((row.price or 0) > 0 and (row.quantity or 0) > 0 for row in deal.product_rows or ())


def _stage_violation(deal: Deal, settings: CrmSettings) -> Violation | None:
    if not deal.stage_id:
        return Violation("no_stage", "Не указана стадия сделки.")
    if settings.stages and deal.stage_id not in settings.stages:
        return Violation("no_stage", f"Стадия {deal.stage_id} не из списка актуальных стадий.")
    return None


def _contact_violation(deal: Deal) -> Violation | None:
    if not deal.contact_ids:
        return Violation("no_contact", "К сделке не привязан контакт.")
    if len(deal.contact_ids) > 1:
        return Violation("several_contacts", f"К сделке привязано {len(deal.contact_ids)} контакта "
                                             f"({', '.join(deal.contact_ids)}), должен быть один.")
    return None


def deal_violations(deal: Deal, has_expanded_comment: bool, settings: CrmSettings) -> tuple[Violation, ...]:
    found = [
        None if deal.product_groups else Violation(
            "no_product_group", f"Не заполнена товарная группа ({settings.product_group_field})."),
        _stage_violation(deal, settings),
        _contact_violation(deal),
        None if has_expanded_comment else Violation(
            "no_expanded_comment", "В сделке нет ни одного развёрнутого комментария."),
        None if deal.product_rows is None or _has_product(deal) else Violation(
            "no_products", "Нет товара с ценой и количеством больше нуля."),
        None if (deal.opportunity or 0) > 0 else Violation("no_sum", "Не указана сумма сделки (OPPORTUNITY)."),
        None if deal.lead_id else Violation("not_from_lead", "Сделка создана не из лида (LEAD_ID пуст)."),
    ]
    return tuple(v for v in found if v is not None)


# --- active ---------------------------------------------------------------------------------------------

def portal_zone(deal: Deal, settings: CrmSettings) -> tzinfo:
    return deal.created.tzinfo if deal.created and deal.created.tzinfo else settings.portal_tz


def active_until(deal: Deal, last_touch: Touch | None, settings: CrmSettings) -> date | None:
    zone = portal_zone(deal, settings)
    days = [m.astimezone(zone).date() for m in (deal.created, last_touch.at if last_touch else None) if m]
    return add_months(max(days), settings.activity_window_months) if days else None


def aware(now: datetime | None, settings: CrmSettings) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=settings.portal_tz)


def deal_texts(deal: Deal, history: History, settings: CrmSettings) -> list[str]:
    """The texts :func:`decide` needs verdicts for: the deal's COMMENTS, timeline comments, notes."""
    return [deal.comments, *comment_texts(history, settings)]


def evaluate_deal(deal: Deal, history: History, judge: Judge, settings: CrmSettings | None = None,
                  now: datetime | None = None, other_comments: Iterable[Written] = ()) -> DealDecision:
    """The decision on ``deal``. ``other_comments``: what its manager wrote on other deals (their
    ``deal_id`` differs), so that a comment pasted from one of them does not count here."""
    settings = settings or CrmSettings()
    now = aware(now, settings)
    verdicts = judge_without_repeats(deal_texts(deal, history, settings), judge, settings)
    reuse = None
    others = [w for w in other_comments if w.deal_id != deal.id]
    if others:
        own = deal_writings(deal.id, history, settings, deal.assigned_by_id)
        reuse = ReuseIndex([*own, *others], settings)
    return decide(deal, history, verdicts, settings, now, reuse)


def reuse_check(deal: Deal, history: History, index: ReuseIndex) -> ReuseCheck:
    """The :data:`~classifier.crm.touches.ReuseCheck` of one deal against ``index``."""
    comments = {c.id: c for c in history.comments}

    def reused(activity: Activity, comment_id: str | None, text: str):
        if comment_id is None:
            item = note_of(activity, deal.id, deal.assigned_by_id)
        else:
            item = comment_of(comments[comment_id], deal.id, deal.assigned_by_id)
        return index.earlier_match(item)

    return reused


def decide(deal: Deal, history: History, verdicts: dict[str, Judgement], settings: CrmSettings,
           now: datetime, reuse: ReuseIndex | None = None) -> DealDecision:
    """:func:`evaluate_deal` with the comments already judged. ``reuse``: the texts a touch comment must not
    repeat (default: this deal's own comments and notes, so only repeats within the deal are found)."""
    if reuse is None:
        reuse = ReuseIndex(deal_writings(deal.id, history, settings, deal.assigned_by_id), settings)
    touches = assess_touches(history, verdicts, settings, now, policy="expanded",
                             reused=reuse_check(deal, history, reuse))
    violations = deal_violations(deal, any(v.expanded for v in verdicts.values()), settings)
    status = deal_status(deal, settings)
    counted = [t for t in touches if t.counted]
    last = counted[-1] if counted else None
    until = active_until(deal, last, settings) if status == OPEN and not violations else None
    zone = portal_zone(deal, settings)
    days_left = (until - now.astimezone(zone).date()).days if until else None
    promises = check_promises(deal.id, deal.assigned_by_id, touches, history, settings, now, zone) \
        if status == OPEN else ()
    return DealDecision(deal_id=deal.id, status=status, correct=not violations, violations=violations,
                        active=days_left is not None and days_left >= 0, active_until=until,
                        days_left=days_left, last_touch=last, touches=touches, promises=promises)
