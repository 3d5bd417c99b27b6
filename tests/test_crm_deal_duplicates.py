"""Deal duplicates: open deals of the same contact in the same product group (crm.deal.list rows)."""

import pytest

from classifier.crm import bitrix
from classifier.crm.duplicates import find_deal_duplicates
from classifier.crm.settings import CrmSettings
from tests.crm_fixtures import deal_json

SETTINGS = CrmSettings()


def row(id: str, contact="201", group="45", semantic="P", **fields) -> dict:
    return deal_json(ID=id, CONTACT_ID=contact, UF_CRM_PRODUCT_GROUP=group, STAGE_SEMANTIC_ID=semantic, **fields)


def groups(*rows, contacts=None):
    contacts = contacts or {}
    deals = [bitrix.deal_from_bitrix(r, SETTINGS, bitrix.deal_contacts(contacts.get(r["ID"]))) for r in rows]
    return [(g.contact_id, g.product_group, g.deal_ids) for g in find_deal_duplicates(deals, SETTINGS)]


CASES = [
    ("same contact, same group", [row("1"), row("2")], None, [("201", "45", ("1", "2"))]),
    ("same contact, other group", [row("1"), row("2", group="46")], None, []),
    ("same group, other contact", [row("1"), row("2", contact="202")], None, []),
    ("group as string and as number", [row("1", group="45"), row("2", group=45)], None, [("201", "45", ("1", "2"))]),
    ("a won deal is a repeat sale, not a duplicate", [row("1", semantic="S", STAGE_ID="WON"), row("2")], None, []),
    ("a lost deal is not a duplicate", [row("1", semantic="F", STAGE_ID="LOSE"), row("2")], None, []),
    ("three deals, other managers", [row("1"), row("2", ASSIGNED_BY_ID="9"), row("3", ASSIGNED_BY_ID="12")], None,
     [("201", "45", ("1", "2", "3"))]),
    ("a second contact from the contact items", [row("1"), row("2", contact="202")],
     {"2": [{"CONTACT_ID": 202, "IS_PRIMARY": "Y"}, {"CONTACT_ID": 201, "IS_PRIMARY": "N"}]},
     [("201", "45", ("1", "2"))]),
    ("no group: nothing to compare", [row("1", group=""), row("2", group="")], None, []),
    ("the same deal twice in the export", [row("1"), row("1")], None, []),
]


@pytest.mark.parametrize("case,rows,contacts,expected", CASES, ids=[c[0] for c in CASES])
def test_deal_duplicates(case, rows, contacts, expected):
    assert groups(*rows, contacts=contacts) == expected
