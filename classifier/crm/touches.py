"""Which interactions really reached the client, and which of them carry an acceptable comment.

A touch is a call that connected and lasted at least the configured minimum, or a correspondence
in which the client wrote (an incoming e-mail, an outgoing one the client answered, an open-line
chat the client started or wrote in), together with a comment about it: the activity's own
DESCRIPTION or a timeline comment written between its start and the configured hours after its end.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .gaming import Reuse
from .records import Activity, CallStat, ChatSession, Comment, History, Judge, Judgement
from .settings import CrmSettings

CONNECTED = "200"  # CALL_FAILED_CODE of a call that connected
REJECTED_BY_POLICY = {"expanded": "comment_not_expanded", "not_stop": "stop_comment"}

WHY_NOT = {
    "in_future": "Запланировано на будущее, ещё не состоялось.",
    "no_date": "Нет даты (START_TIME, CREATED): не понятно, когда это было.",
    "not_interaction": "Не звонок и не переписка с клиентом.",
    "missed_call": "Звонок не состоялся.",
    "call_too_short": "Звонок слишком короткий для разговора.",
    "no_client_reply": "Письмо менеджера, на которое клиент не ответил.",
    "no_client_message": "В чате нет сообщения от клиента.",
    "no_comment": "Нет комментария о взаимодействии.",
    "comment_not_expanded": "Комментарий не развёрнутый.",
    "stop_comment": "Комментарий — статус звонка или заполнитель, а не запись разговора.",
    "reused_comment": "Комментарий повторяет более ранний: повтор не засчитывается как касание.",
}
REPEATED = ("В комментарии одни и те же слова повторяются; без повторов он не развёрнутый: "
            "опишите, что обсуждали и о чём договорились.")
# (activity, comment ID or None for the activity's own note, text) → the earlier text it repeats, or None
ReuseCheck = Callable[[Activity, str | None, str], Reuse | None]


@dataclass(frozen=True)
class Touch:
    """One interaction: whether it counted as a touch and, when not, why not."""

    activity_id: str
    kind: str
    at: datetime | None
    direction: str
    counted: bool
    why_not: str | None
    message: str
    comment_id: str | None = None  # None with a verdict: the activity's own DESCRIPTION
    comment_verdict: str | None = None
    duration: int | None = None
    reused: Reuse | None = None  # with why_not reused_comment: the earlier text the comment repeats

    def to_dict(self) -> dict:
        return {"activity_id": self.activity_id, "kind": self.kind,
                "at": self.at.isoformat() if self.at else None, "direction": self.direction or None,
                "counted": self.counted, "why_not": self.why_not, "message": self.message,
                "comment_id": self.comment_id, "comment_verdict": self.comment_verdict,
                "duration": self.duration, "reused": self.reused.to_dict() if self.reused else None}


@dataclass(frozen=True)
class Reach:
    """Whether an interaction reached the client (``why_not`` is None) and what was seen."""

    why_not: str | None
    message: str = ""
    duration: int | None = None


def judge_texts(texts, judge: Judge) -> dict[str, Judgement]:
    """One verdict per distinct non-empty text, in one call to ``judge``."""
    unique = list(dict.fromkeys(t for t in texts if t and t.strip()))
    if not unique:
        return {}
    verdicts = list(judge(unique))
    if len(verdicts) != len(unique):
        raise ValueError(f"judge returned {len(verdicts)} verdicts for {len(unique)} texts")
    return dict(zip(unique, verdicts))


def accepts(verdict: Judgement, policy: str) -> bool:
    if policy == "expanded":
        return bool(verdict.expanded)
    return verdict.category not in ("stop", "padding")


def comment_texts(history: History, settings: CrmSettings) -> list[str]:
    """Every text that is a manager's comment: timeline comments and notes on calls and meetings."""
    notes = [a.description for a in history.activities if a.kind in settings.description_is_comment]
    return [c.text for c in history.comments] + notes


# --- did it reach the client -----------------------------------------------------------------------------

def _stat_for(activity: Activity, stats: tuple[CallStat, ...]) -> CallStat | None:
    """voximplant.statistic.get joins by CRM_ACTIVITY_ID or ORIGIN_ID = "VI_" + CALL_ID."""
    for stat in stats:
        if stat.activity_id == activity.id or (stat.call_id and activity.origin_id == f"VI_{stat.call_id}"):
            return stat
    return None


def call_reach(activity: Activity, stat: CallStat | None, settings: CrmSettings) -> Reach:
    if stat is not None and stat.failed_code and stat.failed_code != CONNECTED:
        return Reach("missed_call", f"Звонок не состоялся (CALL_FAILED_CODE {stat.failed_code}).", stat.duration)
    if stat is None and activity.missed:
        return Reach("missed_call", "Пропущенный звонок (SETTINGS.MISSED_CALL).", activity.duration)
    duration = stat.duration if stat is not None and stat.duration is not None else activity.duration
    if not duration:
        return Reach("missed_call", "Звонок нулевой длительности: не соединился.", duration)
    if duration < settings.min_call_seconds:
        return Reach("call_too_short", f"Звонок {duration} с, разговором считается от "
                                       f"{settings.min_call_seconds} с.", duration)
    return Reach(None, f"Разговор {duration} с.", duration)


def email_reach(activity: Activity, history: History, now: datetime) -> Reach:
    if activity.direction == "in":
        return Reach(None, "Входящее письмо клиента.")
    replied = any(a.kind == "email" and a.direction == "in" and a.start and activity.start < a.start <= now
                  for a in history.activities)
    if replied:
        return Reach(None, "Письмо менеджера, клиент ответил.")
    return Reach("no_client_reply", WHY_NOT["no_client_reply"])


def chat_reach(activity: Activity, chats: dict[str, ChatSession]) -> Reach:
    if activity.direction == "in":
        return Reach(None, "Чат начал клиент.")
    chat = chats.get(activity.session_id or "")
    if chat is not None and chat.client_wrote:
        return Reach(None, "В чате есть сообщение клиента.")
    if chat is None:
        return Reach("no_client_message", "Чат начал менеджер; истории сессии нет, ответ клиента не виден.")
    return Reach("no_client_message", WHY_NOT["no_client_message"])


def reach(activity: Activity, history: History, chats: dict[str, ChatSession], settings: CrmSettings,
          now: datetime) -> Reach:
    if activity.start is None:
        return Reach("no_date", WHY_NOT["no_date"])
    if activity.start > now:
        return Reach("in_future", WHY_NOT["in_future"])
    if activity.kind == "call":
        return call_reach(activity, _stat_for(activity, history.call_stats), settings)
    if activity.kind == "email":
        return email_reach(activity, history, now)
    if activity.kind == "chat":
        return chat_reach(activity, chats)
    return Reach("not_interaction", WHY_NOT["not_interaction"])


# --- is there a comment about it ------------------------------------------------------------------------

def comment_candidates(activity: Activity, comments: tuple[Comment, ...],
                       settings: CrmSettings) -> list[tuple[str | None, str]]:
    """(comment ID, text): the activity's own note first, then timeline comments in the window."""
    found = []
    if activity.kind in settings.description_is_comment and activity.description:
        found.append((None, activity.description))
    closes = (activity.end or activity.start) + timedelta(hours=settings.comment_window_hours)
    found += [(c.id, c.text) for c in comments if c.text and c.created and activity.start <= c.created <= closes]
    return found


def _late_comment_hint(activity: Activity, comments: tuple[Comment, ...], settings: CrmSettings) -> str:
    later = [c for c in comments if c.text and c.created and c.created > activity.start]
    if not later:
        return WHY_NOT["no_comment"]
    first = min(later, key=lambda c: c.created)
    hours = (first.created - (activity.end or activity.start)).total_seconds() / 3600
    return (f"Нет комментария в течение {settings.comment_window_hours} ч; ближайший (#{first.id}) "
            f"написан через {_span(hours)}.")


def _span(hours: float) -> str:
    return f"{hours / 24:.0f} дн." if hours >= 48 else f"{hours:.0f} ч"


def touch(activity: Activity, got: Reach, comments: tuple[Comment, ...], verdicts: dict[str, Judgement],
          settings: CrmSettings, policy: str, reused: ReuseCheck | None = None) -> Touch:
    """The first comment about ``activity`` that the policy accepts and that repeats no earlier text counts."""
    base = dict(activity_id=activity.id, kind=activity.kind, at=activity.start, direction=activity.direction,
                duration=got.duration)
    if got.why_not:
        return Touch(**base, counted=False, why_not=got.why_not, message=got.message)
    judged = [(cid, text, verdicts[text]) for cid, text in comment_candidates(activity, comments, settings)]
    if not judged:
        return Touch(**base, counted=False, why_not="no_comment",
                     message=_late_comment_hint(activity, comments, settings))
    repeats = []
    for cid, text, verdict in judged:
        if not accepts(verdict, policy):
            continue
        earlier = reused(activity, cid, text) if reused else None
        if earlier is None:
            return Touch(**base, counted=True, why_not=None, message=got.message, comment_id=cid,
                         comment_verdict=verdict.category)
        repeats.append((cid, verdict, earlier))
    if repeats:
        cid, verdict, earlier = repeats[0]
        return Touch(**base, counted=False, why_not="reused_comment", message=earlier.message(), comment_id=cid,
                     comment_verdict=verdict.category, reused=earlier)
    code = REJECTED_BY_POLICY[policy]
    cid, _, verdict = judged[0]
    message = REPEATED if getattr(verdict, "repeated", False) else WHY_NOT[code]
    return Touch(**base, counted=False, why_not=code, message=message, comment_id=cid,
                 comment_verdict=verdict.category)


def assess_touches(history: History, verdicts: dict[str, Judgement], settings: CrmSettings, now: datetime,
                   policy: str = "expanded", reused: ReuseCheck | None = None) -> tuple[Touch, ...]:
    """Every interaction in time order, counted or not. ``verdicts`` covers :func:`comment_texts`;
    ``reused`` (none: no check) finds the earlier text an accepted comment repeats."""
    chats = {c.session_id: c for c in history.chats}
    comments = tuple(sorted(history.comments, key=lambda c: (c.created is None, c.created or now)))
    ordered = sorted(history.activities, key=lambda a: (a.start is None, a.start or now, a.id))
    return tuple(touch(a, reach(a, history, chats, settings, now), comments, verdicts, settings, policy, reused)
                 for a in ordered)
