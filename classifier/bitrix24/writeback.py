"""Results written back where managers and their heads look: deal fields, timeline entries, to-dos, notices.

:func:`plan` turns a deal decision into the writes it calls for, each with a key and a digest;
:class:`Writer` applies them through the ledger in the store, so that the same result is never
written twice (idempotent events and sweeps), a write cut short by a crash is checked on the portal
before being repeated, and in ``shadow`` mode everything is recorded and nothing is sent.
"""

from dataclasses import dataclass
from datetime import date, datetime

from ..crm.deals import OPEN, DealDecision
from ..crm.touches import Touch
from ..verdict import Verdict
from .gateway import BitrixError, Gateway
from .settings import Bitrix24Settings
from .store import Store, digest_of

MARK = "crmqc"  # in every text we write: how a check after a crash finds our own entries
KIND_RU = {"call": "Звонок", "email": "Письмо", "chat": "Чат", "meeting": "Встреча"}
MISSING_RU = {"subject": "что обсуждали", "outcome": "о чём договорились"}


@dataclass(frozen=True)
class Write:
    target: str  # fields, log, todo, notify
    key: str
    deal_id: str
    params: dict

    @property
    def digest(self) -> str:
        return digest_of({"target": self.target, "params": self.params})


def _day(value: date | None) -> str:
    return value.strftime("%d.%m.%Y") if value else ""


def _moment(value: datetime | None) -> str:
    return value.strftime("%d.%m.%Y %H:%M") if value else "без даты"


def deal_fields(decision: DealDecision, settings: Bitrix24Settings) -> dict:
    last = decision.last_touch
    violations = "\n".join(f"{v.code}: {v.message}" for v in decision.violations)
    return {
        settings.field_active: 1 if decision.active else 0,
        settings.field_active_until: decision.active_until.isoformat() if decision.active_until else "",
        settings.field_last_touch: last.at.isoformat() if last and last.at else "",
        settings.field_violations: violations,
    }


def touch_text(touch: Touch, verdict: Verdict | None, decision: DealDecision) -> tuple[str, str]:
    """(title, text) of the timeline entry about one touch and its comment, in Russian."""
    what = f"{KIND_RU.get(touch.kind, 'Касание')} {_moment(touch.at)}"
    if touch.counted:
        until = f" Сделка активна до {_day(decision.active_until)}." if decision.active_until else ""
        return ("Касание засчитано", f"{what}: {touch.message} Комментарий развёрнутый: есть, что обсуждали "
                                     f"и о чём договорились.{until}")
    lines = [f"{what}: {touch.message}"]
    if verdict is not None and not verdict.expanded:
        missing = [MISSING_RU[m] for m in verdict.missing if m in MISSING_RU]
        if missing:
            lines.append("В комментарии не указано: " + " и ".join(missing) + ".")
        lines.extend(verdict.hints)
    lines.append("Сделку продлевает только состоявшийся разговор или переписка с ответом клиента "
                 "и развёрнутый комментарий о нём.")
    return "Касание не засчитано", " ".join(lines)


def plan(decision: DealDecision, deal: dict, logged: list[tuple[Touch, Verdict | None]],
         settings: Bitrix24Settings, today: date) -> list[Write]:
    """The writes a deal decision calls for; ``logged``: the touches with a comment, and its verdict."""
    deal_id = decision.deal_id
    out = [Write("fields", deal_id, deal_id, {"id": deal_id, "fields": deal_fields(decision, settings),
                                              "params": {"REGISTER_SONET_EVENT": "N", "REGISTER_HISTORY_EVENT": "N"}})]
    for touch, verdict in logged:
        key = f"{touch.activity_id}:{touch.comment_id or 'note'}"
        title, text = touch_text(touch, verdict, decision)
        out.append(Write("log", f"{deal_id}:{key}", deal_id, {"fields": {
            "entityTypeId": 2, "entityId": int(deal_id), "title": title,
            "text": f"{text} [{MARK}:{key}]", "iconCode": "info"}}))
    owner = str(deal.get("ASSIGNED_BY_ID") or "")
    until = decision.active_until
    if decision.status == OPEN and decision.active and until and owner and (until - today).days <= settings.warn_days:
        key = f"{deal_id}:{until.isoformat()}"
        title = str(deal.get("TITLE") or f"Сделка {deal_id}")
        link = f"{settings.portal_url}/crm/deal/details/{deal_id}/"
        message = (f"Сделка «{title}» перестанет быть активной после {_day(until)}: внесите развёрнутый "
                   f"комментарий по итогам разговора с клиентом — что обсудили и о чём договорились.")
        out.append(Write("todo", key, deal_id, {
            "ownerTypeId": 2, "ownerId": int(deal_id), "responsibleId": int(owner),
            "deadline": f"{until.isoformat()}T18:00:00", "title": "Развёрнутый комментарий по сделке",
            "description": f"{message} [{MARK}:{key}]"}))
        out.append(Write("notify", key, deal_id, {
            "USER_ID": int(owner), "TAG": f"{MARK}-deal-{deal_id}",
            "MESSAGE": f"{message} [URL={link}]Открыть сделку[/URL]"}))
    return out


class Writer:
    def __init__(self, store: Store, gateway: Gateway | None, settings: Bitrix24Settings):
        self.store, self.gateway, self.settings = store, gateway, settings

    def apply(self, writes: list[Write]) -> int:
        """Send what changed since the last time; returns how many writes were sent (or recorded in shadow)."""
        mode = self.settings.mode
        sent = 0
        for write in writes:
            digest = write.digest
            previous = self.store.written(write.target, write.key, mode)
            if previous and previous["digest"] == digest and previous["state"] == "done":
                continue
            if mode != "on":
                self.store.begin_write(write.target, write.key, mode, digest, write.deal_id, write.params)
                self.store.end_write(write.target, write.key, mode)
                sent += 1
                continue
            if previous and previous["digest"] == digest and previous["state"] == "pending":
                found = self._already_there(write)
                if found is not None:
                    self.store.end_write(write.target, write.key, mode, found)
                    continue
            echo = ("deal", write.deal_id) if write.target == "fields" else None
            self.store.begin_write(write.target, write.key, mode, digest, write.deal_id, write.params, echo)
            portal_id = self._send(write)
            self.store.end_write(write.target, write.key, mode, portal_id)
            sent += 1
        return sent

    def _send(self, write: Write) -> str:
        method = {"fields": "crm.deal.update", "log": "crm.timeline.logmessage.add", "todo": "crm.activity.todo.add",
                  "notify": "im.notify.system.add"}[write.target]
        result = self.gateway.result(method, write.params)
        if isinstance(result, dict):
            inner = result.get("logMessage") or result.get("item") or result
            return str(inner.get("id") or inner.get("ID") or "") if isinstance(inner, dict) else ""
        return "" if isinstance(result, bool) else str(result or "")

    def _already_there(self, write: Write) -> str | None:
        """After a crash between the call and the ledger: did the entry reach the portal? Its ID, or None.

        Deal fields and notices (one per tag) are idempotent on the portal, so they are simply sent again.
        """
        marker = f"[{MARK}:{write.key.split(':', 1)[1] if write.target == 'log' else write.key}]"
        try:
            if write.target == "log":
                rows = self.gateway.result("crm.timeline.logmessage.list", {
                    "entityTypeId": 2, "entityId": int(write.deal_id)}) or {}
                rows = rows.get("logMessages", []) if isinstance(rows, dict) else rows
                hits = [r for r in rows if marker in str(r.get("text", ""))]
            elif write.target == "todo":
                rows = self.gateway.list_all("crm.activity.list", {"filter": {
                    "OWNER_TYPE_ID": 2, "OWNER_ID": write.deal_id, "PROVIDER_ID": "CRM_TODO",
                    "AUTHOR_ID": self.settings.user_id}, "select": ["ID", "DESCRIPTION"]})
                hits = [r for r in rows if marker in str(r.get("DESCRIPTION", ""))]
            else:
                return None
        except BitrixError:
            return None  # cannot tell: writing again is the lesser harm than never writing
        return str(hits[0].get("id") or hits[0].get("ID") or "") if hits else None
