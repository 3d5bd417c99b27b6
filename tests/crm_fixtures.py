"""Bitrix24 JSON builders for the CRM rule tests, shaped as real portals send them (BITRIX24.md):
strings for numbers, Y/N, ``[]`` for an empty object, datetimes with the portal's offset.

Comments are judged by :func:`fake_judge`, so the rule tests never depend on the model.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from classifier.crm import bitrix
from classifier.crm.deals import evaluate_deal
from classifier.crm.gaming import Written
from classifier.crm.leads import check_conversion
from classifier.crm.settings import CrmSettings

MSK = "+03:00"
NOW = "2026-11-20T12:00:00+03:00"
EXPANDED = "Обсудили лимит 150 тыс. и льготный период, клиент пришлёт справку до пятницы, созвон в пн в 11:00"
EXPANDED_2 = "Клиент ответил: условия подходят, запросил список документов, подписание 19.11 в отделении"
EXPANDED_3 = "Рассчитали КАСКО 38 тыс. с франшизой 15 тыс., клиентка согласна, оформляем полис 12.11"
STOP = {"НД": "stop", "перезвонить": "stop", "думает": "stop", "сбросил": "stop",
        "Привет привет привет привет": "padding"}
NOT_EXPANDED = {"Отправил КП": "subject_only", "Договорились на пятницу": "outcome_only"}


@dataclass(frozen=True)
class FakeVerdict:
    expanded: bool
    category: str


def fake_judge(texts: list[str]) -> list[FakeVerdict]:
    """Known expanded texts are expanded; the rest take the category written above."""
    known = {EXPANDED, EXPANDED_2, EXPANDED_3}
    return [FakeVerdict(True, "expanded") if t in known else FakeVerdict(False, {**STOP, **NOT_EXPANDED}.get(
        t, "subject_only")) for t in texts]


def at(moment: str, offset: str = MSK) -> str:
    return moment + offset


def plus(moment: str, seconds: int) -> str:
    """``moment`` (ISO, no offset) + seconds, ISO without offset."""
    return (datetime.fromisoformat(moment) + timedelta(seconds=seconds)).isoformat()


DROP = object()  # a field the portal did not send at all


def deal_json(**fields) -> dict:
    """A correct open deal as crm.deal.get returns it; ``fields`` override, :data:`DROP` removes."""
    deal = {"ID": "410", "TITLE": "Кредитная карта", "TYPE_ID": "SALE", "CATEGORY_ID": "0",
            "STAGE_ID": "PREPARATION", "STAGE_SEMANTIC_ID": "P", "IS_NEW": "N", "CLOSED": "N",
            "OPPORTUNITY": "150000.00", "CURRENCY_ID": "RUB", "COMPANY_ID": "0", "CONTACT_ID": "201",
            "LEAD_ID": "11", "ASSIGNED_BY_ID": "7", "DATE_CREATE": at("2026-09-01T10:00:00"), "CLOSEDATE": "",
            "COMMENTS": "", "OPENED": "Y", "UF_CRM_PRODUCT_GROUP": "45"}
    deal.update(fields)
    return {k: v for k, v in deal.items() if v is not DROP}


def product_rows(price=150000.0, quantity=1) -> list[dict]:
    return [{"ID": 1, "OWNER_ID": 410, "OWNER_TYPE": "D", "PRODUCT_ID": 0, "PRODUCT_NAME": "Карта Gold",
             "PRICE": price, "QUANTITY": quantity, "DISCOUNT_TYPE_ID": 2, "TAX_INCLUDED": "N", "MEASURE_CODE": 796}]


def activity(id: str, provider: str, type_id: str, start: str, seconds: int = 0, direction: str = "2",
             description: str = "", offset: str = MSK, owner: tuple[str, str] = ("2", "410"), **extra) -> dict:
    row = {"ID": id, "OWNER_TYPE_ID": owner[0], "OWNER_ID": owner[1], "TYPE_ID": type_id, "PROVIDER_ID": provider,
           "DIRECTION": direction, "COMPLETED": "Y", "STATUS": "2", "START_TIME": at(start, offset),
           "END_TIME": at(plus(start, seconds), offset), "CREATED": at(start, offset), "DESCRIPTION": description,
           "DESCRIPTION_TYPE": "1", "RESPONSIBLE_ID": "7", "SETTINGS": [], "PROVIDER_PARAMS": [],
           "ASSOCIATED_ENTITY_ID": "0", "RESULT_STREAM": "0", "ORIGIN_ID": ""}
    row.update(extra)
    return row


def call(id: str, start: str, seconds: int, direction: str = "2", missed: bool = False, **kw) -> dict:
    kw.setdefault("SETTINGS", {"MISSED_CALL": True} if missed else [])
    return activity(id, "VOXIMPLANT_CALL", "2", start, seconds, direction, ORIGIN_ID=f"VI_c{id}",
                    PROVIDER_TYPE_ID="CALL", **kw)


def email(id: str, start: str, direction: str, body: str = "<p>Добрый день!&nbsp;Направляю условия.</p>",
          **kw) -> dict:
    return activity(id, "CRM_EMAIL", "4", start, 0, direction, DESCRIPTION_TYPE="3", description=body,
                    PROVIDER_TYPE_ID="EMAIL", **kw)


def chat(id: str, start: str, direction: str, session: str, **kw) -> dict:
    return activity(id, "IMOPENLINES_SESSION", "6", start, 1800, direction, ASSOCIATED_ENTITY_ID=session,
                    ORIGIN_ID=f"IMOL_{session}", PROVIDER_TYPE_ID="1", **kw)


def todo(id: str, start: str, **kw) -> dict:
    return activity(id, "CRM_TODO", "6", start, 0, "0", description="Позвонить клиенту", COMPLETED="N", **kw)


def stat(activity_id: str, code: str, seconds: int) -> dict:
    return {"ID": "9" + activity_id, "CALL_ID": f"c{activity_id}", "CALL_TYPE": "1", "CALL_DURATION": str(seconds),
            "CALL_FAILED_CODE": code, "CALL_START_DATE": NOW, "CRM_ACTIVITY_ID": activity_id,
            "PHONE_NUMBER": "+79161234567", "CRM_ENTITY_TYPE": "CONTACT", "CRM_ENTITY_ID": "201"}


def comment(id: str, created: str, text: str, entity: str = "deal", entity_id: str = "410",
            offset: str = MSK) -> dict:
    return {"ID": id, "ENTITY_ID": entity_id, "ENTITY_TYPE": entity, "CREATED": at(created, offset),
            "COMMENT": text, "AUTHOR_ID": "7", "FILES": {}}


def history_of(message_senders: list[str]) -> dict:
    """imopenlines.session.history.get: "1503" is the client (a connector user), "7" the operator."""
    users = {"7": {"id": 7, "name": "Ольга", "connector": False, "bot": False},
             "1503": {"id": 1503, "name": "Клиент", "connector": True, "bot": False}}
    messages = {str(100 + i): {"id": 100 + i, "chatid": 9902, "senderid": s, "recipientid": "chat9902",
                               "date": at(f"2026-11-05T10:{i:02d}:00"), "text": "…", "params": []}
                for i, s in enumerate(message_senders)}
    return {"chatId": 9902, "message": messages or [], "users": users}


def words_judge(texts: list[str]) -> list[FakeVerdict]:
    """A stand-in for the model that length fools: eight words or more is expanded."""
    return [FakeVerdict(True, "expanded") if len(t.split()) >= 8 else FakeVerdict(False, "subject_only")
            for t in texts]


def written(deal_id: str, id: str, created: str, text: str, manager: str | None = "7", kind: str = "comment",
            offset: str = MSK) -> Written:
    """A comment the manager wrote on another deal, as evaluate_deal(other_comments=…) takes it."""
    return Written(kind, id, deal_id, manager, datetime.fromisoformat(at(created, offset)), text)


def evaluate(deal: dict | None = None, activities=(), comments=(), call_stats=(), chat_history=None,
             contacts=None, rows="default", now: str = NOW, settings: CrmSettings | None = None,
             other_comments=(), judge=fake_judge):
    """Bitrix24 JSON → adapter → evaluate_deal with the fake judge."""
    settings = settings or CrmSettings()
    rows = product_rows() if rows == "default" else rows
    parsed = bitrix.deal_from_bitrix(deal or deal_json(), settings,
                                     bitrix.deal_contacts(contacts) if contacts is not None else (),
                                     bitrix.deal_product_rows(rows, settings))
    history = bitrix.history_from_bitrix(settings, list(activities), list(comments), list(call_stats),
                                         chat_history or {})
    return evaluate_deal(parsed, history, judge, settings, datetime.fromisoformat(now), other_comments)


def convert(activities=(), comments=(), call_stats=(), chat_history=None, now: str = NOW,
            settings: CrmSettings | None = None):
    settings = settings or CrmSettings()
    lead = bitrix.lead_from_bitrix({"ID": "11", "TITLE": "Заявка с сайта", "STATUS_ID": "IN_PROCESS",
                                    "STATUS_SEMANTIC_ID": "P", "ASSIGNED_BY_ID": "7",
                                    "DATE_CREATE": at("2026-11-01T09:00:00"), "DATE_CLOSED": ""}, settings)
    history = bitrix.history_from_bitrix(settings, list(activities), list(comments), list(call_stats),
                                         chat_history or {})
    return check_conversion(lead, history, fake_judge, settings, datetime.fromisoformat(now))


def numeric(row: dict) -> dict:
    """The same record with every digit string as a JSON number, as crm.item.* and some back-ends send."""
    return {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in row.items()}
