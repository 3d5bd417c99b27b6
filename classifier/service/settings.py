"""Service settings from environment variables (prefix ``CRMQC_``), validated at start-up."""

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .. import config


def _split(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMQC_", env_file=None)

    models_dir: Path = config.MODELS_DIR
    model_name: str | None = Field(None, description="model to serve; default: the one in models/CURRENT")
    rules_dir: Path = config.RULES_DIR
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="override the model's threshold")
    batch_limit: int = Field(1000, ge=1, le=100_000)
    max_text_length: int = Field(5000, ge=1, le=1_000_000, description="longest comment, as sent and after NFKC")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=1024**3,
                                description="largest request body; a larger one is refused before it is read")
    batch_max_chars: int = Field(1_000_000, ge=1, le=100_000_000,
                                 description="most characters (after NFKC) of all comments of one batch request")
    store_path: Path = config.ROOT / "var" / "labels.sqlite3"
    data_dir: Path = Field(config.DATA_DIR, description="labelled data: its comments are never offered for labelling")
    watch_current: bool = Field(True, description="reload when models/CURRENT points at another model")
    watch_seconds: float = Field(2.0, gt=0, description="how often models/CURRENT is read")
    watch_max_seconds: float = Field(60.0, gt=0, description="longest wait between retries after a failed "
                                                             "reload; the wait doubles from watch_seconds")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    admin_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    public_meta: bool = Field(False, description="serve /metrics and /docs without X-API-Key even when "
                                                 "CRMQC_API_KEYS is set")

    @field_validator("cors_origins", "api_keys", "admin_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        """«key1,key2» in the environment becomes a list."""
        return _split(value)

    @field_validator("api_keys", "admin_keys")
    @classmethod
    def _header_safe(cls, keys: list[str]) -> list[str]:
        """A key travels in an HTTP header: printable ASCII only, or no client could ever send it."""
        for key in keys:
            if not key.isascii() or not key.isprintable():
                raise ValueError("keys must be printable ASCII (they are sent in an HTTP header)")
        return keys
