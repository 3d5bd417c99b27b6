"""The live integration's speed: events accepted by the receiver, and the time from event to write-back.

Run: .venv/bin/python bench/bench_bitrix24.py [--events 1000] [--deals 15]

1. Receiver: `crmqc serve` (one worker, SQLite inbox in WAL) takes --events form-encoded event calls,
   exactly as Bitrix24 posts them, from 8 client threads; reports events/s and p50/p99 latency.
2. Event → write-back: the fake portal (tests/fake_portal.py, HTTPS, its own leaky bucket at Bitrix24's
   2 req/s) posts its events to the service; a worker at the default 1.5 req/s sustained (burst 20)
   judges each deal and writes the fields and a timeline entry. First a trickle (one manager's call
   every 4 s), then a burst of --deals calls at once; reports the time from the call to the deal field.
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_http import service  # noqa: E402
from classifier import config  # noqa: E402
from classifier.bitrix24 import sweep  # noqa: E402
from classifier.bitrix24.gateway import Gateway  # noqa: E402
from classifier.bitrix24.settings import Bitrix24Settings  # noqa: E402
from classifier.bitrix24.store import Store  # noqa: E402
from classifier.bitrix24.wire import build_query  # noqa: E402
from classifier.bitrix24.worker import Loop, Worker  # noqa: E402
from classifier.checker import CommentChecker  # noqa: E402
from classifier.crm.settings import load_settings  # noqa: E402
from tests.fake_portal import FakePortal  # noqa: E402

COMMENT = ("Берут трубы 150 шт, цена 1 450 за метр устроила, скидка 5% за объём, счёт отправлю до пятницы, "
           "созвон в понедельник в 11:00")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def receiver(url: str, portal: FakePortal, events: int) -> dict:
    """--events distinct deal IDs (no coalescing helps), form-encoded, 8 threads with keep-alive."""
    bodies = [build_query({"event": "ONCRMDEALUPDATE", "event_handler_id": "1", "data": {"FIELDS": {"ID": i}},
                           "ts": int(time.time()), "auth": {"domain": portal.domain, "member_id": portal.member_id,
                                                            "application_token": portal.application_token}})
              for i in range(1, events + 1)]
    local = threading.local()

    def post(body: str) -> tuple[int, float]:
        client = getattr(local, "client", None) or httpx.Client(timeout=10)
        local.client = client
        started = time.perf_counter()
        r = client.post(url + "/v1/bitrix24/events", content=body,
                        headers={"content-type": "application/x-www-form-urlencoded"})
        return r.status_code, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, bodies))
    seconds = time.perf_counter() - started
    latencies = [t * 1000 for _, t in results]
    return {"events": events, "seconds": round(seconds, 2), "events_per_s": round(events / seconds),
            "p50_ms": round(percentile(latencies, 0.5), 1), "p99_ms": round(percentile(latencies, 0.99), 1),
            "non_200": sum(1 for s, _ in results if s != 200)}


def correct_deal(portal: FakePortal) -> str:
    """A correct deal of a manager of its own: the same comment on two deals of one manager is a reuse."""
    manager = str(100 + len(portal.deals))
    deal = portal.add_deal(TITLE="Поставка", STAGE_ID="NEW", OPPORTUNITY="150000", CURRENCY_ID="RUB",
                           ASSIGNED_BY_ID=manager, LEAD_ID="3", UF_CRM_PRODUCT_GROUP="45",
                           DATE_CREATE=datetime.now(UTC) - timedelta(days=100))
    portal.set_deal_contacts(deal, [portal.add_contact(NAME="Иван", LAST_NAME="Петров")])
    portal.set_product_rows(deal, [{"PRODUCT_NAME": "Труба", "PRICE": 1000, "QUANTITY": 150}])
    return deal


def write_back(portal: FakePortal, settings: Bitrix24Settings, trickle: int, burst: int) -> dict:
    store = Store(settings.database_url)
    store.set_watermark(sweep.FULL_AT, str(time.time()))
    store.set_watermark(sweep.INCREMENTAL_AT, str(time.time()))
    worker = Worker(store, Gateway(settings), lambda c=CommentChecker.load(): c,
                    load_settings(config.RULES_DIR / "crm.yaml"), settings)
    stop = threading.Event()
    thread = threading.Thread(target=Loop(worker, poll_seconds=0.1).run, args=(stop.is_set,), daemon=True)
    thread.start()
    field = settings.field_active

    def call_and_wait(deals: list[str]) -> list[float]:
        started = {}
        for deal in deals:
            started[deal] = time.perf_counter()
            portal.log_call(deal, user_id=portal.deals[deal]["ASSIGNED_BY_ID"],
                            at=datetime.now(UTC) - timedelta(minutes=5), duration=120, comment=COMMENT)
        done = {}
        deadline = time.perf_counter() + 600
        while len(done) < len(deals) and time.perf_counter() < deadline:
            for deal in deals:
                if deal not in done and str(portal.deals[deal].get(field, "")) == "1":
                    done[deal] = time.perf_counter() - started[deal]
            time.sleep(0.02)
        return [done.get(d, float("nan")) for d in deals]

    try:
        trickle_times = []
        for _ in range(trickle):
            trickle_times += call_and_wait([correct_deal(portal)])
            time.sleep(4)
        burst_times = call_and_wait([correct_deal(portal) for _ in range(burst)])
    finally:
        stop.set()
        thread.join(timeout=30)
    limited = sum(1 for _, _, o in portal.requests if o == "QUERY_LIMIT_EXCEEDED")
    return {"trickle": {"deals": trickle, "p50_s": round(statistics.median(trickle_times), 2),
                        "max_s": round(max(trickle_times), 2)},
            "burst": {"deals": burst, "p50_s": round(statistics.median(burst_times), 2),
                      "max_s": round(max(burst_times), 2)},
            "rest_calls": Counter(m for _, m, _ in portal.requests if not m.startswith("batch:")),
            "refused_by_portal_limit": limited}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--trickle", type=int, default=5)
    parser.add_argument("--deals", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    with FakePortal(rate_per_second=2, burst=50) as portal:
        os.environ["REQUESTS_CA_BUNDLE"] = portal.ca_file
        env = {"CRMQC_B24_WEBHOOK_URL": portal.webhook_url, "CRMQC_B24_APPLICATION_TOKEN": portal.application_token,
               "CRMQC_B24_MEMBER_ID": portal.member_id}
        with service({**env, "CRMQC_DATABASE_URL": f"sqlite:///{tmp / 'b24.sqlite3'}"}) as (url, _):
            print("receiver:", receiver(url, portal, args.events), flush=True)
        bench_db = f"sqlite:///{tmp / 'writeback.sqlite3'}"
        settings = Bitrix24Settings(webhook_url=portal.webhook_url, application_token=portal.application_token,
                                    member_id=portal.member_id, mode="on", database_url=bench_db,
                                    ca_bundle=portal.ca_file)
        # the receiver the portal's emitter posts to, on the worker's inbox
        with service({**env, "CRMQC_DATABASE_URL": bench_db}) as (url, _):
            portal.subscribe(url + "/v1/bitrix24/events")
            print(f"write-back at {settings.rate_per_second} req/s (burst {settings.burst}):",
                  write_back(portal, settings, args.trickle, args.deals), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
