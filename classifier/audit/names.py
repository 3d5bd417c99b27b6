"""Names instead of IDs in the audit, and links into the portal.

From the optional files of the export: ``users.json`` (``user.get``: managers), ``statuses.json``
(``crm.status.list``: deal stages ``DEAL_STAGE``/``DEAL_STAGE_<pipeline>``, lead statuses ``STATUS``),
``deal_fields.json`` (``crm.deal.fields``, or ``crm.deal.userfield.list``: the list items of the
product-group field), and ``contacts.json`` itself (the client's ФИО). Where a name is absent, the ID.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Names:
    users: dict[str, str] = field(default_factory=dict)  # user ID → «Ольга Смирнова»
    stages: dict[str, str] = field(default_factory=dict)  # STATUS_ID of a deal stage → «Исполнение»
    lead_statuses: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)  # product-group option ID → label
    contacts: dict[str, str] = field(default_factory=dict)  # contact ID → ФИО
    portal_url: str = ""  # https://example.bitrix24.ru, no trailing slash; "" gives no links

    def manager(self, user_id: str | None) -> str:
        user_id = user_id or ""
        name = self.users.get(user_id, "")
        return name or (f"#{user_id}" if user_id else "—")

    def stage(self, stage_id: str) -> str:
        return self.stages.get(stage_id, stage_id) or "—"

    def group(self, group_id: str) -> str:
        return self.groups.get(group_id, group_id)

    def contact(self, contact_id: str) -> str:
        return self.contacts.get(contact_id) or f"#{contact_id}"

    def url(self, entity: str, record_id: str) -> str:
        """``/crm/deal/details/410/`` on the portal; "" without a portal URL."""
        return f"{self.portal_url}/crm/{entity}/details/{record_id}/" if self.portal_url and record_id else ""


def user_name(user: dict) -> str:
    return " ".join(str(user.get(k) or "").strip() for k in ("NAME", "LAST_NAME")).strip()


def stage_names(rows: list) -> tuple[dict[str, str], dict[str, str]]:
    """(deal stages, lead statuses) from ``crm.status.list`` rows: STATUS_ID → NAME."""
    stages, statuses = {}, {}
    for row in rows:
        if not isinstance(row, dict) or not row.get("STATUS_ID") or not isinstance(row.get("NAME"), str):
            continue
        entity = str(row.get("ENTITY_ID") or "")
        if entity.startswith("DEAL_STAGE"):
            stages[str(row["STATUS_ID"])] = row["NAME"].strip()
        elif entity == "STATUS":
            statuses[str(row["STATUS_ID"])] = row["NAME"].strip()
    return stages, statuses


def _items(items) -> dict[str, str]:
    if not isinstance(items, list):
        return {}
    return {str(i["ID"]): str(i["VALUE"]).strip() for i in items
            if isinstance(i, dict) and i.get("ID") not in (None, "") and isinstance(i.get("VALUE"), (str, int))}


def group_names(fields, field_code: str) -> dict[str, str]:
    """Option ID → label of ``field_code`` in ``crm.deal.fields`` (``{code: {"items": [...]}}``) or in
    ``crm.deal.userfield.list`` (``[{"FIELD_NAME": code, "LIST": [...]}]``)."""
    if isinstance(fields, dict):
        described = fields.get(field_code)
        return _items(described.get("items")) if isinstance(described, dict) else {}
    if isinstance(fields, list):
        for row in fields:
            if isinstance(row, dict) and row.get("FIELD_NAME") == field_code:
                return _items(row.get("LIST"))
    return {}
