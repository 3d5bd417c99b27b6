"""The FastAPI app, wired and nothing more: lifespan, middleware, error handlers, routers.

Routes live in :mod:`classifier.service.routes`, what they share in :mod:`classifier.service.deps`,
model hot-swapping in :mod:`classifier.service.hotswap`.
"""

import asyncio
import gc
from contextlib import asynccontextmanager

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles

from ..bitrix24.settings import Bitrix24Settings
from ..bitrix24.store import Store as IntegrationStore
from ..checker import CommentChecker
from ..crm.settings import load_settings as load_crm_settings
from ..qa.queue import PoolScores
from ..qa.store import Store
from ..training.dataset import labelled_keys
from .errors import install_handlers
from .guards import GuardMiddleware
from .hotswap import ModelSlot
from .prometheus import Metrics, MetricsMiddleware
from .routes import STATIC, admin, bitrix24, comments, crm, labelling
from .settings import Settings


def create_app(settings: Settings | None = None, checker: CommentChecker | None = None,
               b24: Bitrix24Settings | None = None) -> FastAPI:
    """The service; ``checker``, when given, is served first (loaded before, e.g. to fail fast or fork)."""
    settings = settings or Settings()
    b24 = b24 or Bitrix24Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        slot = ModelSlot(settings.models_dir, settings.rules_dir, settings.threshold, settings.model_name)
        if checker is not None:
            slot.install(checker)
        else:
            slot.reload()
        app.state.settings, app.state.slot, app.state.metrics = settings, slot, metrics
        app.state.crm_settings = load_crm_settings(settings.rules_dir / "crm.yaml")
        app.state.pool_scores = PoolScores()
        app.state.store = Store(settings.store_path)
        app.state.store.mark_labelled(labelled_keys(settings.data_dir))
        app.state.b24 = b24
        app.state.b24_store = IntegrationStore(b24.database_url) if b24.enabled else None
        # The model and rules live as long as the process: keep the collector from rescanning them,
        # which showed up as tens of milliseconds in the p99 of request latency.
        gc.freeze()
        watcher = None
        if settings.watch_current and settings.model_name is None:
            watcher = asyncio.create_task(slot.watch(settings.watch_seconds, settings.watch_max_seconds))
        try:
            yield
        finally:
            if watcher:
                watcher.cancel()
            app.state.store.close()
            if app.state.b24_store is not None:
                app.state.b24_store.close()

    app = FastAPI(title="crmqc: CRM comment quality", version="1", lifespan=lifespan, docs_url=None,
                  description="Decides whether a sales manager's CRM comment is expanded (развёрнутый) "
                              "and says what is missing.")
    install_handlers(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key"])
    app.add_middleware(GuardMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for router in (comments.router, crm.router, labelling.router, labelling.page, bitrix24.router, admin.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Swagger UI from the swagger-ui-bundle-v2 package, not a CDN: /docs works on a network with no internet
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title + " — API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")

    return app


def preloaded_app() -> FastAPI:
    """An app whose model is loaded now, in the calling process: with `gunicorn --preload` the
    workers fork after this and share the loaded model's memory instead of each loading a copy."""
    settings = Settings()
    checker = CommentChecker.load(models_dir=settings.models_dir, name=settings.model_name,
                                  rules_dir=settings.rules_dir, threshold=settings.threshold)
    return create_app(settings, checker=checker)
