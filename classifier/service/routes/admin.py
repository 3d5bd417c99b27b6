"""Service routes: health, readiness, the model card, metrics, the manager's page, and admin reload."""

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ...model.linear import ModelError
from ..deps import ADMIN, AppMetrics, AppSettings, Checker, Slot
from ..errors import ApiError, errors
from ..schemas import LoadingOut, ReadyOut
from . import STATIC

router = APIRouter(tags=["service"])


@router.get("/healthz", responses=errors(413))
def healthz():
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyOut,
            responses={503: {"model": LoadingOut, "description": "no model in service yet"}, **errors(413)})
def readyz(request: Request):
    slot = getattr(request.app.state, "slot", None)
    checker = slot.checker if slot else None
    if checker is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    return {"status": "ready", "model_version": checker.model_version}


@router.get("/v1/model", responses=errors(401, 413))
def model_card(checker: Checker):
    return dict(checker.model.card, threshold_in_use=checker.threshold_in_use)


@router.get("/metrics", response_class=PlainTextResponse, responses=errors(401, 413, plain=True, s401=(
    "missing or invalid X-API-Key (when CRMQC_API_KEYS is set and CRMQC_PUBLIC_META is not)")))
def prometheus(metrics: AppMetrics):
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/v1/admin/reload", dependencies=ADMIN, responses=errors(
    401, 403, 413, 422, s401="missing or invalid X-Admin-Key", s403="admin calls are off: CRMQC_ADMIN_KEYS is not set",
    s422="`model` is not a version held in models/, or does not load: the model in service stays"))
def reload(slot: Slot, settings: AppSettings, model: str | None = Query(
        None, max_length=128, description="model version to pin; default: CRMQC_MODEL_NAME, else "
                                          "models/CURRENT, which is then followed again")):
    """Load a model and put it into service without a restart; on error the old one stays.

    With `model=NAME` the model is **pinned**: the service stops following models/CURRENT, and a
    later change of CURRENT leaves NAME in service. A reload without `model=` ends the pin: it loads
    the model CURRENT names now (or CRMQC_MODEL_NAME when set), and CURRENT is followed again.
    `follows_current` in the answer says which of the two holds. Only versions held in models/ load.
    """
    try:
        loaded = slot.reload(model)
    except ModelError as exc:
        raise ApiError(422, f"model not loaded, the old one stays in service: {exc}", "model") from exc
    return {"model_version": loaded.model_version,
            "follows_current": slot.follows_current and settings.watch_current}


@router.get("/", include_in_schema=False)
def manager_page():
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")
