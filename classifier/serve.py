"""The FastAPI app: a thin HTTP shell over CommentChecker.classify_many().

The lifespan builds the checker once; routes get it through a dependency. CPU-bound routes
are plain ``def`` so they run in the thread pool and never block the event loop.
"""

import asyncio
import json
import logging
import secrets
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


def get_checker(request: Request) -> CommentChecker:
    return request.app.state.checker


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def require_admin_key(request: Request, settings: Settings = Depends(get_settings)) -> None:
    if not settings.admin_keys:
        raise ApiError(403, "admin calls are off: set CRMQC_ADMIN_KEYS to enable them")
    given = request.headers.get("x-admin-key", "")
    if not any(secrets.compare_digest(given, key) for key in settings.admin_keys):
        raise ApiError(401, "missing or invalid X-Admin-Key header")


def reload_checker(app: FastAPI, name: str | None = None) -> CommentChecker:
    """Load a model beside the one in service, then swap: requests in flight keep the old one."""
    settings: Settings = app.state.settings
    checker = CommentChecker.load(models_dir=settings.models_dir, name=name or settings.model_name,
                                  rules_dir=settings.rules_dir, threshold=settings.threshold)
    app.state.checker = checker
    log.info("serving model %s", checker.model_version)
    return checker


async def watch_current(app: FastAPI) -> None:
    """Follow models/CURRENT: a promoted model goes into service without a restart."""
    settings: Settings = app.state.settings
    while True:
        await asyncio.sleep(settings.watch_seconds)
        name = current_model_name(settings.models_dir)
        if name != app.state.checker.model.card.get("name"):
            try:
                await asyncio.to_thread(reload_checker, app)
            except ModelError as exc:
                log.error("models/CURRENT names %s, which does not load: %s", name, exc)


def require_json(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, f"content type must be application/json, got {kind or 'none'}")


def require_api_key(request: Request, settings: Settings = Depends(get_settings)) -> None:
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
        if checker is not None:
            app.state.checker = checker
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
        card["threshold_in_use"] = checker.threshold if checker.threshold is not None else checker.model.threshold
        return card

    @app.get("/metrics", tags=["service"])
    def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/admin/reload", dependencies=[Depends(require_admin_key)], tags=["service"])
    def reload(request: Request, model: str | None = Query(None, description="model name; default models/CURRENT")):
        try:
            loaded = reload_checker(request.app, model)
        except ModelError as exc:
            raise ApiError(422, f"model not loaded, the old one stays in service: {exc}") from exc
        return {"model_version": loaded.model_version}

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
