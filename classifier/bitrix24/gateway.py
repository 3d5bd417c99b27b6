"""Every REST call to the portal goes through :class:`Gateway`: the official b24pysdk behind our interface.

b24pysdk does the HTTP and the envelope; this module adds what a shared portal needs
(BITRIX24_LIVE.md 3): one process-wide token bucket per portal (Bitrix24 limits a portal, not a
client), retries with exponential backoff and full jitter on 503 ``QUERY_LIMIT_EXCEEDED`` /
``OVERLOAD_LIMIT``, 5xx and network errors, a wait until ``operating_reset_at`` on 429
``OPERATION_TIME_LIMIT``, ``batch`` in chunks of 50, and ID-window paging with ``start=-1``.
"""

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping

from b24pysdk import BitrixWebhook
from b24pysdk.errors import BitrixBaseAPIError, BitrixRequestError, BitrixResponseJSONDecodeError

from ..crm.bitrix import to_mapping, to_rows
from .settings import Bitrix24Settings
from .wire import build_query

log = logging.getLogger("crmqc.bitrix24")

BATCH_MAX = 50
RETRY_CODES = frozenset({"QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT", "INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER"})
NOT_FOUND = ("not found", "не найден")


class BitrixError(RuntimeError):
    """The portal refused a call: ``code`` is Bitrix24's error code, ``status`` the HTTP status."""

    def __init__(self, method: str, code: str, description: str, status: int | None = None):
        self.method, self.code, self.description, self.status = method, code, description, status
        super().__init__(f"{method}: {code or 'error'} {description}".strip())

    @property
    def not_found(self) -> bool:
        return any(m in self.description.lower() for m in NOT_FOUND) or self.code in ("NOT_FOUND", "ERROR_NOT_FOUND")


class Unavailable(BitrixError):
    """Retries ran out on limits, 5xx or the network: try the work again later."""


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved; :meth:`take` sleeps until one is there."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate, self.burst, self.clock, self.sleep = rate, burst, clock, sleep
        self.tokens, self.stamp = float(burst), clock()
        self.lock = threading.Lock()
        self.paused_until = 0.0

    def take(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                wait = max(self.paused_until - now, 0.0)
                if not wait and self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = wait or (1 - self.tokens) / self.rate
            self.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Nobody calls for ``seconds`` (the portal said it is over its limit) and the saved burst is gone."""
        with self.lock:
            self.paused_until = max(self.paused_until, self.clock() + seconds)
            self.tokens = 0.0


_BUCKETS: dict[str, TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def bucket_for(domain: str, rate: float, burst: int) -> TokenBucket:
    """One bucket per portal per process, shared by every gateway and thread."""
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(domain)
        if bucket is None or (bucket.rate, bucket.burst) != (rate, burst):
            bucket = _BUCKETS[domain] = TokenBucket(rate, burst)
        return bucket


class Gateway:
    """A portal's REST API, rate-limited and retried. Thread-safe."""

    def __init__(self, settings: Bitrix24Settings, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        if not settings.webhook_url:
            raise ValueError("CRMQC_B24_WEBHOOK_URL is not set")
        if settings.ca_bundle:
            os.environ["REQUESTS_CA_BUNDLE"] = settings.ca_bundle  # b24pysdk's requests reads it per call
        domain, token = settings.webhook_parts
        self.webhook = BitrixWebhook(domain=domain, webhook_token=token)
        self.settings = settings
        self.bucket = bucket_for(domain, settings.rate_per_second, settings.burst)
        self.sleep, self.rng = sleep, rng or random.Random()
        self.reset_at: dict[str, float] = {}  # method → operating_reset_at (Unix) from its last answer

    # --- one call ------------------------------------------------------------------------------------

    def _once(self, method: str, params: dict) -> dict:
        self.bucket.take()
        try:
            return self.webhook.call_method(method, params, timeout=self.settings.request_timeout, max_retries=1)
        except BitrixBaseAPIError as exc:
            body = exc.json_response if isinstance(exc.json_response, dict) else {}
            error = body.get("error")
            code = error.get("code", "") if isinstance(error, dict) else str(error or "")
            description = str(body.get("error_description", "")) or (
                error.get("message", "") if isinstance(error, dict) else "")
            status = getattr(exc.response, "status_code", None)
            cls = Unavailable if status == 429 or code in RETRY_CODES or (status or 0) >= 500 else BitrixError
            raise cls(method, code, description, status) from None
        except BitrixResponseJSONDecodeError as exc:
            status = getattr(exc.response, "status_code", None)
            raise Unavailable(method, "BAD_RESPONSE", f"HTTP {status}, not JSON", status) from None
        except BitrixRequestError as exc:
            cause = exc.__cause__ or exc.__context__ or exc
            raise Unavailable(method, "NETWORK", f"{type(cause).__name__}: {cause}"[:300], None) from None

    def call(self, method: str, params: Mapping | None = None) -> dict:
        """The whole answer (``result``, ``total``, ``next``, ``time``), after retries."""
        params = dict(params or {})
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                answer = self._once(method, params)
            except Unavailable as exc:
                if attempt == attempts:
                    raise
                self._wait(method, exc, attempt)
                continue
            timing = answer.get("time") if isinstance(answer, dict) else None
            if isinstance(timing, dict) and timing.get("operating_reset_at"):
                self.reset_at[method] = float(timing["operating_reset_at"])
            return answer
        raise AssertionError("unreachable")

    def _wait(self, method: str, exc: Unavailable, attempt: int) -> None:
        if exc.status == 429 or exc.code == "OPERATION_TIME_LIMIT":
            # the method is blocked until its operating budget resets; others may go on
            delay = max(self.reset_at.get(method, 0.0) - time.time(), 1.0)
            log.warning("%s blocked by OPERATION_TIME_LIMIT: waiting %.0f s", method, delay)
        else:
            delay = self.rng.uniform(0, min(30.0, 0.5 * 2 ** attempt))  # full jitter
            if exc.code in ("QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT"):
                self.bucket.pause(delay)
            log.info("%s: %s, retry %d in %.1f s", method, exc.code or exc.status, attempt, delay)
        self.sleep(delay)

    def result(self, method: str, params: Mapping | None = None):
        return self.call(method, params).get("result")

    # --- many calls ------------------------------------------------------------------------------------

    def batch(self, commands: Mapping[str, tuple[str, Mapping]]) -> dict[str, object]:
        """{key: (method, params)} → {key: result or BitrixError}, 50 commands per request."""
        keys, out = list(commands), {}
        for start in range(0, len(keys), BATCH_MAX):
            chunk = keys[start:start + BATCH_MAX]
            cmd = {k: f"{commands[k][0]}?{build_query(commands[k][1])}" for k in chunk}
            answer = self.result("batch", {"halt": 0, "cmd": cmd}) or {}
            results = to_mapping(answer.get("result"))
            errors = to_mapping(answer.get("result_error"))
            for k in chunk:
                if k in errors:
                    error = errors[k] if isinstance(errors[k], dict) else {}
                    out[k] = BitrixError(commands[k][0], str(error.get("error", "")),
                                         str(error.get("error_description", "")))
                else:
                    out[k] = results.get(k)
        return out

    def list_all(self, method: str, params: Mapping | None = None, id_field: str = "ID",
                 result_key: str | None = None) -> Iterator[dict]:
        """Every row, by ID windows (``>ID`` ascending, ``start=-1``: no count query on the portal)."""
        params = dict(params or {})
        filters = dict(params.pop("filter", {}) or {})
        last = None
        while True:
            window = {**filters, **({f">{id_field}": last} if last is not None else {})}
            rows = self.result(method, {**params, "filter": window, "order": {id_field: "ASC"}, "start": -1})
            if result_key and isinstance(rows, dict):
                rows = rows.get(result_key)
            rows = to_rows(rows)
            if not rows:
                return
            yield from rows
            newest = max(int(r.get(id_field) or r.get(id_field.lower()) or 0) for r in rows)
            if last is not None and newest <= last:
                raise BitrixError(method, "PAGING_STUCK", f"the {id_field} window did not move past {last}")
            last = newest
            if len(rows) < BATCH_MAX:
                return
