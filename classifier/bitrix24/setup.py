"""``crmqc bitrix24 setup``: check the connection and create the deal fields the results go into."""

from dataclasses import dataclass

from .gateway import Gateway
from .settings import Bitrix24Settings

LABELS = {  # field setting → (user type, label a manager sees in the deal card)
    "field_active": ("boolean", "Сделка активна (контроль комментариев)"),
    "field_active_until": ("date", "Активна до"),
    "field_last_touch": ("datetime", "Последнее засчитанное касание"),
    "field_violations": ("string", "Нарушения ведения сделки"),
}


@dataclass(frozen=True)
class SetupReport:
    portal_time: str
    created: tuple[str, ...]
    present: tuple[str, ...]


def field_spec(name: str, user_type: str, label: str) -> dict:
    spec = {"FIELD_NAME": name.removeprefix("UF_CRM_"), "USER_TYPE_ID": user_type, "XML_ID": name,
            "EDIT_FORM_LABEL": {"ru": label, "en": label}, "LIST_COLUMN_LABEL": {"ru": label, "en": label},
            "EDIT_IN_LIST": "N", "SHOW_FILTER": "Y"}
    if user_type == "string":
        spec["SETTINGS"] = {"ROWS": 4}
    return spec


def ensure_fields(gateway: Gateway, settings: Bitrix24Settings) -> SetupReport:
    """Create each configured deal field that the portal does not have yet; existing ones are left alone."""
    portal_time = str(gateway.result("server.time"))
    existing = {str(f.get("FIELD_NAME")) for f in gateway.result("crm.deal.userfield.list", {}) or []}
    created, present = [], []
    for setting, (user_type, label) in LABELS.items():
        name = getattr(settings, setting)
        if name in existing:
            present.append(name)
            continue
        gateway.result("crm.deal.userfield.add", {"fields": field_spec(name, user_type, label)})
        created.append(name)
    return SetupReport(portal_time, tuple(created), tuple(present))
