"""The CRM endpoints: a thin HTTP shell over classifier.crm, with the checker as the judge of comments.

Routes are plain ``def`` because judging comments is CPU-bound.
"""

from collections.abc import Callable

from fastapi import APIRouter

from ...crm import bitrix
from ...crm.bitrix import BitrixFormatError
from ...crm.contacts import check_contact
from ...crm.deals import evaluate_deal
from ...crm.duplicates import find_contact_duplicates, find_deal_duplicates
from ...crm.gaming import Written
from ...crm.leads import check_conversion
from ...crm.settings import CrmSettings
from ..crm_schemas import (
    ContactCheckIn,
    ContactCheckOut,
    ContactDuplicatesIn,
    ContactDuplicatesOut,
    ConversionOut,
    DealDecisionOut,
    DealDuplicatesIn,
    DealDuplicatesOut,
    DealEvaluateIn,
    LeadConversionIn,
)
from ..deps import JSON_BODY, Checker, CrmRules
from ..errors import ERRORS, ApiError


def read(parse: Callable, where: str = ""):
    """``parse()``, with a malformed Bitrix24 value turned into a 422 that names the field."""
    try:
        return parse()
    except BitrixFormatError as exc:
        error = exc.within(where) if where else exc
        raise ApiError(422, str(error), error.field) from None


def _history(body, settings: CrmSettings):
    return read(lambda: bitrix.history_from_bitrix(settings, body.activities, body.comments, body.call_stats,
                                                   body.chat_history))


def _deal(body: DealEvaluateIn, settings: CrmSettings):
    contacts = read(lambda: bitrix.deal_contacts(body.contacts)) if body.contacts is not None else ()
    rows = read(lambda: bitrix.deal_product_rows(body.product_rows, settings))
    return read(lambda: bitrix.deal_from_bitrix(body.deal, settings, contacts, rows), "deal")


def _other_comments(body: DealEvaluateIn, deal, settings: CrmSettings) -> list[Written]:
    return [Written("comment", str(c.comment_id), str(c.deal_id),
                    str(c.author_id) if c.author_id is not None else deal.assigned_by_id,
                    c.created if c.created.tzinfo else c.created.replace(tzinfo=settings.portal_tz),
                    bitrix.plain_text(c.text)) for c in body.other_comments]


def _deals(body: DealDuplicatesIn, settings: CrmSettings):
    deals = []
    for i, raw in enumerate(body.deals):
        contacts = read(lambda raw=raw: bitrix.deal_contacts(body.contacts.get(str(raw.get("ID")))),
                        f"contacts.{raw.get('ID')}")
        deals.append(read(lambda raw=raw, contacts=contacts: bitrix.deal_from_bitrix(raw, settings, contacts),
                          f"deals.{i}"))
    return deals


router = APIRouter(prefix="/v1", tags=["crm"], dependencies=JSON_BODY, responses=ERRORS)


@router.post("/deals/evaluate", response_model=DealDecisionOut)
def deals_evaluate(body: DealEvaluateIn, checker: Checker, settings: CrmRules):
    deal, history = _deal(body, settings), _history(body, settings)
    others = _other_comments(body, deal, settings)
    return evaluate_deal(deal, history, checker.classify_many, settings, body.now, others).to_dict()


@router.post("/deals/duplicates", response_model=DealDuplicatesOut)
def deals_duplicates(body: DealDuplicatesIn, settings: CrmRules):
    return {"groups": [g.to_dict() for g in find_deal_duplicates(_deals(body, settings), settings)]}


@router.post("/leads/conversion-check", response_model=ConversionOut)
def leads_conversion_check(body: LeadConversionIn, checker: Checker, settings: CrmRules):
    lead = read(lambda: bitrix.lead_from_bitrix(body.lead, settings), "lead")
    decision = check_conversion(lead, _history(body, settings), checker.classify_many, settings, body.now)
    return decision.to_dict()


@router.post("/contacts/check", response_model=ContactCheckOut)
def contacts_check(body: ContactCheckIn, settings: CrmRules):
    contact = read(lambda: bitrix.contact_from_bitrix(body.contact, settings), "contact")
    return check_contact(contact, settings, body.employee_emails, body.corporate_domains).to_dict()


@router.post("/contacts/duplicates", response_model=ContactDuplicatesOut)
def contacts_duplicates(body: ContactDuplicatesIn, settings: CrmRules):
    contacts = read(lambda: bitrix.records(body.contacts, bitrix.contact_from_bitrix, settings, "contacts"))
    return {"groups": [g.to_dict() for g in find_contact_duplicates(contacts, settings)]}
