"""What routes share: the checker in service, settings, the store, metrics, the JSON and admin guards.

Routes take these as ``Annotated`` parameters (``checker: Checker``), so no route reaches into app
state itself. The dependencies only read app state or headers, so they are ``async def``: FastAPI would
run a plain ``def`` dependency in the thread pool.
"""

from typing import Annotated

from fastapi import Depends, Request

from ..checker import CommentChecker
from ..crm.settings import CrmSettings
from ..qa.queue import PoolScores
from ..qa.store import Store
from .errors import ApiError
from .guards import key_matches
from .hotswap import ModelSlot
from .prometheus import Metrics
from .settings import Settings


async def _slot(request: Request) -> ModelSlot:
    return request.app.state.slot


async def _checker(request: Request) -> CommentChecker:
    return request.app.state.slot.checker


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _store(request: Request) -> Store:
    return request.app.state.store


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def _crm_settings(request: Request) -> CrmSettings:
    return request.app.state.crm_settings


async def _pool_scores(request: Request) -> PoolScores:
    return request.app.state.pool_scores


Slot = Annotated[ModelSlot, Depends(_slot)]
Checker = Annotated[CommentChecker, Depends(_checker)]
AppSettings = Annotated[Settings, Depends(_settings)]
LabelStore = Annotated[Store, Depends(_store)]
AppMetrics = Annotated[Metrics, Depends(_metrics)]
CrmRules = Annotated[CrmSettings, Depends(_crm_settings)]
Scores = Annotated[PoolScores, Depends(_pool_scores)]


async def require_json(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, f"content type must be application/json, got {kind or 'none'}")


async def require_admin_key(request: Request, settings: AppSettings) -> None:
    if not settings.admin_keys:
        raise ApiError(403, "admin calls are off: set CRMQC_ADMIN_KEYS to enable them")
    if not key_matches(request.headers.get("x-admin-key", ""), settings.admin_keys):
        raise ApiError(401, "missing or invalid X-Admin-Key header")


# The API key of /v1 calls is checked once, before the body is read, by guards.GuardMiddleware.
JSON_BODY = [Depends(require_json)]
ADMIN = [Depends(require_admin_key)]
