"""Lead rule: a lead may be converted only after a touch — a connected call or a correspondence in
which the client wrote — and a comment about it that is not a stop phrase or padding (or, with the
``expanded`` policy in crm.yaml, an expanded one)."""

from dataclasses import dataclass
from datetime import datetime

from .deals import aware
from .gaming import judge_without_repeats
from .records import History, Judge, Lead, Violation
from .settings import CrmSettings
from .touches import REJECTED_BY_POLICY, WHY_NOT, Touch, assess_touches, comment_texts

NOT_REACHED = frozenset({"in_future", "no_date", "not_interaction", "missed_call", "call_too_short",
                         "no_client_reply", "no_client_message"})


@dataclass(frozen=True)
class ConversionDecision:
    lead_id: str
    allowed: bool
    reasons: tuple[Violation, ...]
    touches: tuple[Touch, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict:
        return {"lead_id": self.lead_id, "allowed": self.allowed, "reasons": [r.to_dict() for r in self.reasons],
                "touches": [t.to_dict() for t in self.touches]}


def is_converted(lead: Lead, settings: CrmSettings) -> bool:
    return lead.status_semantic == "S" or lead.status_id in settings.converted_statuses


def refusal(touches: tuple[Touch, ...], policy: str) -> Violation | None:
    """Why conversion is not allowed yet, or None when a touch counted."""
    if any(t.counted for t in touches):
        return None
    reached = [t for t in touches if t.why_not not in NOT_REACHED]
    if not reached:
        return Violation("no_touch", "Не было разговора или переписки, в которой ответил клиент.")
    rejected = REJECTED_BY_POLICY[policy]
    if any(t.why_not == rejected for t in reached):
        return Violation(rejected, WHY_NOT[rejected])
    return Violation("no_comment", "Нет комментария о разговоре или переписке с клиентом.")


def check_conversion(lead: Lead, history: History, judge: Judge, settings: CrmSettings | None = None,
                     now: datetime | None = None) -> ConversionDecision:
    """For a converted lead pass ``now`` = its DATE_CLOSED: what happened after does not count."""
    settings = settings or CrmSettings()
    verdicts = judge_without_repeats(comment_texts(history, settings), judge, settings)
    policy = settings.conversion_policy
    touches = assess_touches(history, verdicts, settings, aware(now, settings), policy=policy)
    reason = refusal(touches, policy)
    return ConversionDecision(lead_id=lead.id, allowed=reason is None, reasons=(reason,) if reason else (),
                              touches=touches)
