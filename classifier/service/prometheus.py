"""Prometheus metrics of the service: requests, latencies, verdicts (``GET /metrics``)."""

import time

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("crmqc_requests", "HTTP requests", ["method", "path", "status"],
                                registry=self.registry)
        self.latency = Histogram("crmqc_request_seconds", "HTTP request latency", ["path"],
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5),
                                 registry=self.registry)
        self.verdicts = Counter("crmqc_verdicts", "verdicts by category", ["category"], registry=self.registry)

    def count_verdicts(self, verdicts) -> None:
        for v in verdicts:
            self.verdicts.labels(v.category).inc()


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
