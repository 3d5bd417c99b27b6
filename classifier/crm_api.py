"""The CRM endpoints: a thin HTTP shell over classifier.crm, with the checker as the judge of comments.

``add_crm_routes(app, get_checker)`` is called from ``create_app``; routes are plain ``def``
because judging comments is CPU-bound.
"""

from collections.abc import Callable

from fastapi import Depends, FastAPI

from .crm import bitrix
from .crm.bitrix import BitrixFormatError
from .crm.contacts import check_contact
from .crm.deals import evaluate_deal
from .crm.duplicates import find_contact_duplicates, find_deal_duplicates
from .crm.leads import check_conversion
from .crm.settings import CrmSettings, load_settings
from .crm_schemas import (ContactCheckIn, ContactCheckOut, ContactDuplicatesIn, ContactDuplicatesOut,
                          ConversionOut, DealDecisionOut, DealDuplicatesIn, DealDuplicatesOut, DealEvaluateIn,
                          LeadConversionIn)


def read(parse: Callable, where: str = ""):
    """``parse()``, with a malformed Bitrix24 value turned into a 422 that names the field."""
    from .serve import ApiError
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


def _deals(body: DealDuplicatesIn, settings: CrmSettings):
    deals = []
    for i, raw in enumerate(body.deals):
        contacts = read(lambda: bitrix.deal_contacts(body.contacts.get(str(raw.get("ID")))),
                        f"contacts.{raw.get('ID')}")
        deals.append(read(lambda: bitrix.deal_from_bitrix(raw, settings, contacts), f"deals.{i}"))
    return deals


def add_crm_routes(app: FastAPI, get_checker: Callable, crm_settings: CrmSettings | None = None,
                   dependencies: list | None = None) -> None:
    """``dependencies`` guard every route (default: the API key); each route also requires JSON."""
    from .serve import ERRORS, require_api_key, require_json
    settings = crm_settings or load_settings()
    guarded = [Depends(require_json), *(dependencies if dependencies is not None else [Depends(require_api_key)])]

    @app.post("/v1/deals/evaluate", response_model=DealDecisionOut, dependencies=guarded, responses=ERRORS,
              tags=["crm"])
    def deals_evaluate(body: DealEvaluateIn, checker=Depends(get_checker)):
        deal, history = _deal(body, settings), _history(body, settings)
        return evaluate_deal(deal, history, checker.classify_many, settings, body.now).to_dict()

    @app.post("/v1/deals/duplicates", response_model=DealDuplicatesOut, dependencies=guarded, responses=ERRORS,
              tags=["crm"])
    def deals_duplicates(body: DealDuplicatesIn):
        return {"groups": [g.to_dict() for g in find_deal_duplicates(_deals(body, settings), settings)]}

    @app.post("/v1/leads/conversion-check", response_model=ConversionOut, dependencies=guarded,
              responses=ERRORS, tags=["crm"])
    def leads_conversion_check(body: LeadConversionIn, checker=Depends(get_checker)):
        lead = read(lambda: bitrix.lead_from_bitrix(body.lead, settings), "lead")
        decision = check_conversion(lead, _history(body, settings), checker.classify_many, settings, body.now)
        return decision.to_dict()

    @app.post("/v1/contacts/check", response_model=ContactCheckOut, dependencies=guarded, responses=ERRORS,
              tags=["crm"])
    def contacts_check(body: ContactCheckIn):
        contact = read(lambda: bitrix.contact_from_bitrix(body.contact, settings), "contact")
        return check_contact(contact, settings, body.employee_emails, body.corporate_domains).to_dict()

    @app.post("/v1/contacts/duplicates", response_model=ContactDuplicatesOut, dependencies=guarded,
              responses=ERRORS, tags=["crm"])
    def contacts_duplicates(body: ContactDuplicatesIn):
        contacts = read(lambda: bitrix.records(body.contacts, bitrix.contact_from_bitrix, settings, "contacts"))
        return {"groups": [g.to_dict() for g in find_contact_duplicates(contacts, settings)]}
