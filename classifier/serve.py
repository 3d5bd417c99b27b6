"""The FastAPI app: a thin HTTP shell over CommentChecker.classify_many().

The lifespan builds the checker once; routes get it through a dependency. CPU-bound routes
are plain ``def`` so they run in the thread pool and never block the event loop. The shared
dependencies only read app state or headers, so they are ``async def``: FastAPI would run a plain
``def`` dependency in the thread pool, and the async single-score route would pay that hop anyway.
"""

import asyncio
import json
import logging
import secrets
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from .checker import CommentChecker, current_model_name
from .crm.settings import load_settings as load_crm_settings
from .crm_api import add_crm_routes
from .labelling import add_labelling_routes
from .model import ModelError
from .store import Store
from .schemas import BatchIn, BatchOut, CommentIn, ErrorOut, VerdictOut
from .settings import Settings

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("crmqc")
ERRORS = {400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 413: {"model": ErrorOut},
          415: {"model": ErrorOut}, 422: {"model": ErrorOut}}


class ApiError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None):
        self.status, self.detail, self.field = status, detail, field


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("crmqc_requests", "HTTP requests", ["method", "path", "status"],
                                registry=self.registry)
        self.latency = Histogram("crmqc_request_seconds", "HTTP request latency", ["path"],
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5),
                                 registry=self.registry)
        self.verdicts = Counter("crmqc_verdicts", "verdicts by category", ["category"], registry=self.registry)


class MetricsMiddleware:
    """Request counts and latencies by route, as a plain ASGI middleware (no per-request task)."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def send_and_record(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            path = getattr(scope.get("route"), "path", "other")
            self.metrics.requests.labels(scope["method"], path, str(status[0])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)


def _error(status: int, detail: str, errors: list[dict] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return _error(400, "malformed JSON body: " + "; ".join(str(e.get("ctx", {}).get("error", e["msg"]))
                                                               for e in errors))
    items = [{"field": _field(e["loc"]), "message": e["msg"]} for e in errors]
    return _error(422, "; ".join(f"{i['field']}: {i['message']}" for i in items), items)


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return _error(exc.status, exc.detail, [{"field": exc.field, "message": exc.detail}] if exc.field else None)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, ensure_ascii=False)
    if exc.status_code == 400 and "parsing the body" in detail:
        detail = "the body is not valid UTF-8 JSON"
    return _error(exc.status_code, detail)


async def get_checker(request: Request) -> CommentChecker:
    return request.app.state.checker


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def require_admin_key(request: Request, settings: Settings = Depends(get_settings)) -> None:
    if not settings.admin_keys:
        raise ApiError(403, "admin calls are off: set CRMQC_ADMIN_KEYS to enable them")
    given = request.headers.get("x-admin-key", "")
    if not any(secrets.compare_digest(given, key) for key in settings.admin_keys):
        raise ApiError(401, "missing or invalid X-Admin-Key header")


def reload_checker(app: FastAPI, name: str | None = None, *, from_watcher: bool = False) -> CommentChecker | None:
    """Load a model beside the one in service, then swap: requests in flight keep the old one.

    ``name`` pins that model: the CURRENT watcher leaves it in service until a reload without a
    name, which serves ``settings.model_name`` or, when that is unset, the model in models/CURRENT
    again. ``from_watcher`` drops the loaded model if a pin arrived while it was loading (and
    returns None), so a slow watcher reload never overrides an admin's choice.
    """
    settings: Settings = app.state.settings
    pointer = None
    if name is None and settings.model_name is None:
        pointer = current_model_name(settings.models_dir)
    checker = CommentChecker.load(models_dir=settings.models_dir, name=name or settings.model_name or pointer,
                                  rules_dir=settings.rules_dir, threshold=settings.threshold)
    with app.state.reload_lock:
        if from_watcher and app.state.pinned:
            log.info("models/CURRENT names %s, but a pinned model stays in service", pointer)
            return None
        app.state.checker = checker
        app.state.pinned = name is not None
        if pointer is not None:
            app.state.current_seen = pointer
    log.info("serving model %s%s", checker.model_version, " (pinned)" if name is not None else "")
    return checker


def check_current(app: FastAPI) -> bool:
    """One look at models/CURRENT; True when it named a new model and that model went into service.

    Compares the pointer with the value last read from it, not with the model in service: a model
    pinned with ``/v1/admin/reload?model=`` differs from CURRENT on purpose. While a pin holds, nothing
    is read. Blocking (file reads, model loading): call it in a thread. Load errors propagate and the
    pointer counts as unread, so the next check tries again.
    """
    if app.state.pinned:
        return False
    name = current_model_name(app.state.settings.models_dir)
    if name == app.state.current_seen:
        return False
    return reload_checker(app, from_watcher=True) is not None


async def watch_current(app: FastAPI, sleep=asyncio.sleep) -> None:
    """Follow models/CURRENT: a promoted model goes into service without a restart.

    Any error is logged and retried after a wait that doubles up to ``settings.watch_max_seconds``,
    so a pointer at a broken model costs one log line per wait, not a busy loop.
    """
    settings: Settings = app.state.settings
    delay = settings.watch_seconds
    while True:
        await sleep(delay)
        try:
            await asyncio.to_thread(check_current, app)
        except Exception as exc:
            retry = min(delay * 2, max(settings.watch_max_seconds, settings.watch_seconds))
            if isinstance(exc, ModelError):
                log.error("models/CURRENT names a model that does not load (next try in %.3g s): %s", retry, exc)
            else:
                log.exception("checking models/CURRENT failed (next try in %.3g s)", retry)
            delay = retry
        else:
            delay = settings.watch_seconds


async def require_json(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, f"content type must be application/json, got {kind or 'none'}")


async def require_api_key(request: Request, settings: Settings = Depends(get_settings)) -> None:
    if not settings.api_keys:
        return
    given = request.headers.get("x-api-key", "")
    if not any(secrets.compare_digest(given, key) for key in settings.api_keys):
        raise ApiError(401, "missing or invalid X-API-Key header")


def _check_length(text: str, limit: int, field: str) -> None:
    if len(text) > limit:
        raise ApiError(413, f"{field}: text is {len(text)} characters, the limit is {limit}", field)


def _out(verdict, explain: bool) -> dict:
    out = verdict.to_dict()
    if explain:
        out["explain"] = verdict.details
    return out


def create_app(settings: Settings | None = None, checker: CommentChecker | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.reload_lock = threading.Lock()
        app.state.pinned = False
        app.state.current_seen = None  # the name last read from models/CURRENT
        if checker is not None:
            app.state.checker = checker
            if settings.model_name is None:  # a preloaded checker comes from CURRENT (see preloaded_app)
                app.state.current_seen = checker.model.card.get("name")
        else:
            reload_checker(app)
        app.state.store = Store(settings.store_path)
        watcher = None
        if settings.watch_current and settings.model_name is None:
            watcher = asyncio.create_task(watch_current(app))
        yield
        if watcher:
            watcher.cancel()
        app.state.store.close()

    app = FastAPI(title="crmqc: CRM comment quality", version="1", lifespan=lifespan,
                  description="Decides whether a sales manager's CRM comment is expanded (развёрнутый) "
                              "and says what is missing.")
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key"])

    app.add_middleware(MetricsMiddleware, metrics=metrics)

    v1 = [Depends(require_api_key)]

    @app.post("/v1/comments/score", response_model=VerdictOut, response_model_exclude_none=True,
              dependencies=[Depends(require_json), *v1], responses=ERRORS, tags=["comments"])
    async def score(body: CommentIn, explain: bool = Query(False, description="add normalised text, lemmas, "
                                                           "rule hits and the tokens that weighed most"),
                    checker: CommentChecker = Depends(get_checker), settings: Settings = Depends(get_settings)):
        # `async` on purpose: one comment takes about 0.6 ms of CPU, less than the hop to the thread
        # pool and back (bench/bench_http.py: 374 req/s as a plain `def`). The batch route stays `def`.
        _check_length(body.text, settings.max_text_length, "text")
        verdict = checker.classify(body.text, explain=explain)
        metrics.verdicts.labels(verdict.category).inc()
        return JSONResponse(_out(verdict, explain))  # already the VerdictOut shape: skip re-validation

    @app.post("/v1/comments/score-batch", response_model=BatchOut, dependencies=[Depends(require_json), *v1],
              responses=ERRORS, tags=["comments"])
    def score_batch(body: BatchIn, checker: CommentChecker = Depends(get_checker),
                    settings: Settings = Depends(get_settings)):
        if len(body.comments) > settings.batch_limit:
            raise ApiError(413, f"comments: {len(body.comments)} in one request, the limit is "
                                f"{settings.batch_limit}", "comments")
        seen = set()
        for i, item in enumerate(body.comments):
            _check_length(item.text, settings.max_text_length, f"comments.{i}.text")
            if item.id in seen:
                raise ApiError(422, f"comments.{i}.id: duplicate id {item.id!r}", f"comments.{i}.id")
            seen.add(item.id)
        verdicts = checker.classify_many([c.text for c in body.comments])
        for v in verdicts:
            metrics.verdicts.labels(v.category).inc()
        return {"results": [{"id": c.id, **v.to_dict()} for c, v in zip(body.comments, verdicts)]}

    @app.get("/healthz", tags=["service"])
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"])
    def readyz(request: Request):
        ready = getattr(request.app.state, "checker", None) is not None
        body = {"status": "ready" if ready else "loading"}
        if ready:
            body["model_version"] = request.app.state.checker.model_version
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/v1/model", dependencies=v1, tags=["service"])
    def model_card(checker: CommentChecker = Depends(get_checker)):
        card = dict(checker.model.card)
        card["threshold_in_use"] = checker.threshold_in_use
        return card

    @app.get("/metrics", tags=["service"])
    def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/admin/reload", dependencies=[Depends(require_admin_key)], tags=["service"])
    def reload(request: Request, model: str | None = Query(
            None, description="model name to pin; default: CRMQC_MODEL_NAME, else models/CURRENT, which is then "
                              "followed again")):
        """Load a model and put it into service without a restart; on error the old one stays.

        With `model=NAME` the model is **pinned**: the service stops following models/CURRENT, and a
        later change of CURRENT leaves NAME in service. A reload without `model=` ends the pin: it loads
        the model CURRENT names now (or CRMQC_MODEL_NAME when set), and CURRENT is followed again.
        `follows_current` in the answer says which of the two holds.
        """
        try:
            loaded = reload_checker(request.app, model)
        except ModelError as exc:
            raise ApiError(422, f"model not loaded, the old one stays in service: {exc}") from exc
        settings: Settings = request.app.state.settings
        follows = model is None and settings.model_name is None and settings.watch_current
        return {"model_version": loaded.model_version, "follows_current": follows}

    add_labelling_routes(app, get_checker, get_store, dependencies=v1)
    add_crm_routes(app, get_checker, load_crm_settings(settings.rules_dir / "crm.yaml"), dependencies=v1)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def preloaded_app() -> FastAPI:
    """An app whose model is loaded now, in the calling process: with `gunicorn --preload` the
    workers fork after this and share the loaded model's memory instead of each loading a copy."""
    settings = Settings()
    checker = CommentChecker.load(models_dir=settings.models_dir, name=settings.model_name,
                                  rules_dir=settings.rules_dir, threshold=settings.threshold)
    return create_app(settings, checker=checker)
