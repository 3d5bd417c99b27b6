"""CRM rule settings from ``rules/crm.yaml``: every threshold and field code of the regulation.

A missing key takes the regulation's value (the defaults of :class:`CrmSettings`); an unknown key
or a value of the wrong type raises :class:`CrmSettingsError` naming the file and the key.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import timedelta, timezone, tzinfo
from pathlib import Path

from .. import config
from ..yamlfile import read_mapping

CRM_YAML = config.RULES_DIR / "crm.yaml"
KINDS = ("call", "email", "chat", "meeting", "todo", "other")
POLICIES = ("not_stop", "expanded")
NAME_FIELDS = ("LAST_NAME", "NAME", "SECOND_NAME")
MSK = timezone(timedelta(hours=3))


class CrmSettingsError(ValueError):
    """``crm.yaml`` is missing or malformed."""


def _provider_kinds() -> dict[str, str]:
    return {"VOXIMPLANT_CALL": "call", "CRM_CALL_TRACKER": "call", "CRM_EMAIL": "email",
            "IMOPENLINES_SESSION": "chat", "CRM_MEETING": "meeting", "CRM_TODO": "todo",
            "CRM_TASKS_TASK": "todo", "TASKS": "todo"}


def _type_kinds() -> dict[int, str]:
    return {1: "meeting", 2: "call", 3: "todo", 4: "email"}


@dataclass(frozen=True)
class CrmSettings:
    product_group_field: str = "UF_CRM_PRODUCT_GROUP"
    product_groups: dict[str, str] = field(default_factory=dict)
    activity_window_months: int = 2
    won_stages: tuple[str, ...] = ("WON",)
    lost_stages: tuple[str, ...] = ("LOSE", "APOLOGY")
    stages: tuple[str, ...] = ()
    min_call_seconds: int = 30
    comment_window_hours: int = 24
    description_is_comment: tuple[str, ...] = ("call", "meeting")
    provider_kinds: dict[str, str] = field(default_factory=_provider_kinds)
    type_kinds: dict[int, str] = field(default_factory=_type_kinds)
    conversion_policy: str = "not_stop"
    converted_statuses: tuple[str, ...] = ("CONVERTED",)
    full_name_fields: tuple[str, ...] = ("LAST_NAME", "NAME", "SECOND_NAME")
    phone_region: str = "RU"
    employee_emails: tuple[str, ...] = ()
    corporate_domains: tuple[str, ...] = ()
    portal_tz: tzinfo = MSK
    portal_url: str = ""  # https://<portal>: reports link every deal, contact and lead there
    # signals of gaming (classifier/crm/gaming.py)
    reuse_similarity: float = 0.6
    reuse_shingle_words: int = 2
    reuse_min_words: int = 6
    repeat_min_words: int = 3
    promise_grace_days: int = 2
    promise_horizon_days: int = 62
    burst_days: int = 3
    burst_late_hours: int = 72
    burst_min_comments: int = 5
    burst_min_share: float = 0.5

    def group_label(self, group: str) -> str:
        return self.product_groups.get(group, group)


# --- value checks: each takes the YAML value and returns the setting, or raises ValueError ----------

def _positive_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return value


def _seconds(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of seconds ≥ 0, got {value!r}")
    return value


def _share(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"expected a share above 0 and at most 1, got {value!r}")
    return float(value)


def _days(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of days ≥ 0, got {value!r}")
    return value


def _code(value) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", value):
        raise ValueError(f"expected a field code like UF_CRM_PRODUCT_GROUP, got {value!r}")
    return value


def _words(value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and str(v).strip() for v in value):
        raise ValueError(f"expected a list of non-empty strings, got {value!r}")
    return tuple(str(v).strip() for v in value)


def _lower_words(value) -> tuple[str, ...]:
    return tuple(v.lower() for v in _words(value))


def _kinds(value) -> tuple[str, ...]:
    kinds = _words(value)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r} (known: {', '.join(KINDS)})")
    return kinds


def _name_fields(value) -> tuple[str, ...]:
    names = _words(value)
    unknown = [n for n in names if n not in NAME_FIELDS]
    if unknown or not names:
        raise ValueError(f"expected some of {', '.join(NAME_FIELDS)}, got {value!r}")
    return names


def _labels(value) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of option ID to label, got {value!r}")
    return {str(k): str(v) for k, v in value.items()}


def _provider_map(value) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of PROVIDER_ID to kind, got {value!r}")
    for kind in value.values():
        _kinds([kind])
    return {str(k): v for k, v in value.items()}


def _type_map(value) -> dict[int, str]:
    if not isinstance(value, dict) or not all(isinstance(k, int) for k in value):
        raise ValueError(f"expected a mapping of TYPE_ID (a number) to kind, got {value!r}")
    for kind in value.values():
        _kinds([kind])
    return dict(value)


def _policy(value) -> str:
    if value not in POLICIES:
        raise ValueError(f"expected one of {', '.join(POLICIES)}, got {value!r}")
    return value


def _region(value) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError(f"expected a two-letter region like RU, got {value!r}")
    return value


def _portal_url(value) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not re.fullmatch(r"https?://[A-Za-z0-9.-]+(?::\d+)?/?", value.strip()):
        raise ValueError(f"expected the portal's address like https://example.bitrix24.ru, got {value!r}")
    return value.strip().rstrip("/")


def _offset(value) -> tzinfo:
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"expected an offset like +03:00, got {value!r}")
    sign = 1 if match.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


# section → key → (CrmSettings field, check)
SCHEMA = {
    "deal": {
        "product_group_field": ("product_group_field", _code),
        "product_groups": ("product_groups", _labels),
        "activity_window_months": ("activity_window_months", _positive_int),
        "won_stages": ("won_stages", _words),
        "lost_stages": ("lost_stages", _words),
        "stages": ("stages", _words),
    },
    "touch": {
        "min_call_seconds": ("min_call_seconds", _seconds),
        "comment_window_hours": ("comment_window_hours", _positive_int),
        "description_is_comment": ("description_is_comment", _kinds),
    },
    "activity_kinds": {
        "by_provider": ("provider_kinds", _provider_map),
        "by_type": ("type_kinds", _type_map),
    },
    "lead": {
        "conversion_policy": ("conversion_policy", _policy),
        "converted_statuses": ("converted_statuses", _words),
    },
    "contact": {
        "full_name_fields": ("full_name_fields", _name_fields),
        "phone_region": ("phone_region", _region),
        "employee_emails": ("employee_emails", _lower_words),
        "corporate_domains": ("corporate_domains", _lower_words),
    },
    "portal": {
        "utc_offset": ("portal_tz", _offset),
        "url": ("portal_url", _portal_url),
    },
    "reuse": {
        "similarity": ("reuse_similarity", _share),
        "shingle_words": ("reuse_shingle_words", _positive_int),
        "min_words": ("reuse_min_words", _positive_int),
        "repeat_min_words": ("repeat_min_words", _positive_int),
    },
    "promise": {
        "grace_days": ("promise_grace_days", _days),
        "horizon_days": ("promise_horizon_days", _positive_int),
    },
    "burst": {
        "days": ("burst_days", _positive_int),
        "late_hours": ("burst_late_hours", _positive_int),
        "min_comments": ("burst_min_comments", _positive_int),
        "min_share": ("burst_min_share", _share),
    },
}


def _read(path: Path) -> dict:
    return read_mapping(path, CrmSettingsError, "settings file", allow_empty=True)


def _section_values(name: str, section, path: Path) -> dict:
    keys = SCHEMA.get(name)
    if keys is None:
        raise CrmSettingsError(f"{path.name}: {name}: unknown section (known: {', '.join(SCHEMA)})")
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise CrmSettingsError(f"{path.name}: {name}: expected a mapping of keys")
    values = {}
    for key, value in section.items():
        if key not in keys:
            raise CrmSettingsError(f"{path.name}: {name}.{key}: unknown key (known: {', '.join(keys)})")
        target, check = keys[key]
        try:
            values[target] = check(value)
        except ValueError as exc:
            raise CrmSettingsError(f"{path.name}: {name}.{key}: {exc}") from None
    return values


def portal_url(value) -> str:
    """``value`` as the portal URL setting (for a command-line option), or :class:`CrmSettingsError`."""
    try:
        return _portal_url(value)
    except ValueError as exc:
        raise CrmSettingsError(f"portal URL: {exc}") from None


def load_settings(path: Path | str = CRM_YAML) -> CrmSettings:
    """The settings in ``path``, on top of the regulation's defaults."""
    path = Path(path)
    values = {}
    for name, section in _read(path).items():
        values.update(_section_values(str(name), section, path))
    return replace(CrmSettings(), **values)
