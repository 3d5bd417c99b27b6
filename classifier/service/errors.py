"""Every error the API answers, as one JSON shape: ``{"detail": …, "errors": [{"field", "message"}]}``."""

import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .schemas import ErrorOut

# What each error status means, wherever it is answered; every one of them has the ErrorOut body.
MEANINGS = {
    400: "malformed JSON, or a body that is not valid UTF-8",
    401: "missing or invalid X-API-Key (when CRMQC_API_KEYS is set)",
    403: "forbidden",
    404: "not found",
    405: "method not allowed on this path (the Allow header lists the ones it has)",
    409: "conflict",
    413: "too large: a body over CRMQC_MAX_BODY_BYTES, whatever the route, or a text or batch over its limit",
    415: "the body is not application/json",
    422: "a value the request cannot have: `errors` names each field",
    503: "unavailable",
}


def errors(*statuses: int, plain: bool = False, **meanings: str) -> dict:
    """OpenAPI ``responses`` for these error statuses, each with the ErrorOut body; ``s404="…"`` says what a
    status means on this route. ``plain``: the route answers 200 in another media type (FastAPI would
    document its errors in that type too), so the JSON of the errors is spelled out."""
    body = ({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}} if plain
            else {"model": ErrorOut})
    return {status: {**body, "description": meanings.get(f"s{status}", MEANINGS[status])} for status in statuses}


# A JSON-body call guarded by X-API-Key: what every /v1/comments and CRM route can answer besides 200.
ERRORS = errors(400, 401, 413, 415, 422)


class FieldError(ValueError):
    """A validation error found above the field it is about (in a model validator): names that field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class ApiError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None):
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


def error_response(status: int, detail: str, errors: list[dict] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status, headers=headers)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "malformed JSON body: " + "; ".join(
            str(e.get("ctx", {}).get("error", e["msg"])) for e in errors))
    items = [{"field": getattr(e.get("ctx", {}).get("error"), "field", None) or _field(e["loc"]), "message": e["msg"]}
             for e in errors]
    return error_response(422, "; ".join(f"{i['field']}: {i['message']}" for i in items), items)


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.detail,
                          [{"field": exc.field, "message": exc.detail}] if exc.field else None)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, ensure_ascii=False)
    if exc.status_code == 400 and "parsing the body" in detail:
        detail = "the body is not valid UTF-8 JSON"
    # the exception's headers go out too: a 405 must say which methods the path has (Allow, RFC 9110)
    return error_response(exc.status_code, detail, headers=exc.headers)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
