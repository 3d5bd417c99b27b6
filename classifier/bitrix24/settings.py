"""The integration's settings, from environment variables ``CRMQC_B24_*`` (and ``CRMQC_DATABASE_URL``).

Nothing is set by default, and then the integration is off: ``make run`` serves the API with no portal.
"""

from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .. import config

Mode = Literal["off", "shadow", "on"]
DEFAULT_DATABASE = f"sqlite:///{config.ROOT / 'var' / 'bitrix24.sqlite3'}"


class Bitrix24Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMQC_B24_", env_file=None, populate_by_name=True)

    mode: Mode = Field("shadow", description="off: ignore the portal; shadow: judge and record, write nothing "
                                             "to the portal; on: also write the results back")
    webhook_url: str = Field("", description="the incoming webhook for REST, "
                                             "https://<portal>/rest/<user id>/<secret>/")
    application_token: str = Field("", description="the outgoing webhook's application token")
    member_id: str = Field("", description="the portal's member_id; events from any other portal are refused")
    domain: str = Field("", description="the portal's domain as events name it (auth[domain]); "
                                        "default: the webhook URL's host")
    user_id: str = Field("", description="the integration's Bitrix24 user: its own writes are not judged; "
                                         "default: the webhook URL's user")
    database_url: str = Field(DEFAULT_DATABASE, validation_alias=AliasChoices("CRMQC_DATABASE_URL", "database_url"),
                              description="SQLite file (default) or postgresql+psycopg://… shared by workers")
    ca_bundle: str = Field("", description="a CA file for an on-premise portal with its own certificate")
    rate_per_second: float = Field(1.5, gt=0, le=50, description="sustained REST calls per second")
    burst: int = Field(20, ge=1, le=250, description="REST calls allowed at once before the rate applies")
    request_timeout: float = Field(30.0, gt=0, le=600)
    max_attempts: int = Field(6, ge=1, le=20, description="tries of one REST call on limits, 5xx, network errors")
    lease_seconds: float = Field(300.0, gt=0, le=86400, description="a worker that took an object and died "
                                                                     "frees it after this long")
    warn_days: int = Field(7, ge=0, le=60, description="a to-do and a notice this many days before a deal "
                                                       "stops being active")
    incremental_hours: float = Field(24.0, gt=0, description="how often the worker sweeps what changed")
    full_days: float = Field(7.0, gt=0, description="how often the worker reads everything (finds deletions)")
    field_active: str = Field("UF_CRM_QC_ACTIVE", pattern=r"^UF_CRM_[A-Z0-9_]{1,40}$")
    field_active_until: str = Field("UF_CRM_QC_ACTIVE_UNTIL", pattern=r"^UF_CRM_[A-Z0-9_]{1,40}$")
    field_last_touch: str = Field("UF_CRM_QC_LAST_TOUCH", pattern=r"^UF_CRM_[A-Z0-9_]{1,40}$")
    field_violations: str = Field("UF_CRM_QC_VIOLATIONS", pattern=r"^UF_CRM_[A-Z0-9_]{1,40}$")
    portal_url: str = Field("", description="links in messages; default: https://<domain>")

    @field_validator("application_token", "member_id")
    @classmethod
    def _printable(cls, value: str) -> str:
        if value and (not value.isascii() or not value.isprintable()):
            raise ValueError("must be printable ASCII")
        return value.strip()

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        path = [p for p in parts.path.split("/") if p]
        if parts.scheme != "https" or not parts.netloc or len(path) != 3 or path[0] != "rest":
            raise ValueError("expected https://<portal>/rest/<user id>/<secret>/")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _derived(self):
        if self.webhook_url:
            parts = urlsplit(self.webhook_url)
            _, user, _secret = [p for p in parts.path.split("/") if p]
            self.domain = self.domain or parts.netloc
            self.user_id = self.user_id or user
        self.portal_url = (self.portal_url or (f"https://{self.domain}" if self.domain else "")).rstrip("/")
        return self

    @property
    def configured(self) -> bool:
        """Enough to receive events and read the portal; the mode decides whether anything is done."""
        return bool(self.webhook_url and self.application_token and self.member_id)

    @property
    def enabled(self) -> bool:
        return self.configured and self.mode != "off"

    @property
    def webhook_parts(self) -> tuple[str, str]:
        """(domain, "user/secret"): what b24pysdk's BitrixWebhook takes."""
        parts = urlsplit(self.webhook_url)
        _, user, secret = [p for p in parts.path.split("/") if p]
        return parts.netloc, f"{user}/{secret}"
