"""A fake Bitrix24 portal: a real HTTPS server with in-memory CRM state, for tests, benchmarks and a manual demo.

It is a real server, not a mock of the client library, because the integration talks to Bitrix24 through the
official SDK (b24pysdk), which only builds ``https://{domain}/rest/...`` URLs. So the fake serves HTTPS with a
certificate for 127.0.0.1 made at start; pass :attr:`FakePortal.ca_file` as ``REQUESTS_CA_BUNDLE`` or httpx
``verify``.

State is stored the way Bitrix24 sends it back: strings for numbers, ``Y``/``N`` flags, ISO datetimes with the
portal's offset, ``[]`` for empty objects, multifields as lists of ``{ID, VALUE_TYPE, VALUE, TYPE_ID}``. The
faults a live portal shows (503/429/500, slow answers, dropped connections, a leaky-bucket limit) can be
injected, and changes are sent to a subscriber as Bitrix24's outgoing webhook sends them (form-encoded,
bracketed keys, IDs only), with optional drops, repeats and reordering, because Bitrix24 never retries.

Sources for the shapes: the research notes BITRIX24.md and BITRIX24_LIVE.md. Try it by hand with
``python -m tests.fake_portal --port 8090 --events-to http://127.0.0.1:8000/v1/bitrix24/events``.
"""

import argparse
import asyncio
import ipaddress
import json
import random
import re
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from classifier.bitrix24.wire import flatten, parse_nested

PAGE_SIZE = 50  # fixed by Bitrix24 for every list method
BATCH_LIMIT = 50
OAUTH_SERVER = "https://oauth.bitrix.info/rest/"
BATCH_REFERENCE = re.compile(r"\$result((?:\[[^\]]+\])+)")  # $result[cmd][49][ID] in a batch command
REORDER_WINDOW = 3  # events are shuffled only among close neighbours, as a queue server might
HTTP_FAULTS = {
    "503": (503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
    "429": (429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
    "500": (500, "INTERNAL_SERVER_ERROR", "Internal server error"),
}
FAULT_KINDS = frozenset({*HTTP_FAULTS, "slow", "slow_answer", "drop"})
MULTIFIELDS = frozenset({"PHONE", "EMAIL", "WEB", "IM"})  # `select: *` leaves them out of list calls
OWNER_TYPES = {"1": "LEAD", "2": "DEAL", "3": "CONTACT"}  # OWNER_TYPE_ID → name; comments use it lower-cased
ENTITY_TYPE_IDS = {name.lower(): type_id for type_id, name in OWNER_TYPES.items()}
COMPARISONS = {">": lambda c: c > 0, ">=": lambda c: c >= 0, "<": lambda c: c < 0, "<=": lambda c: c <= 0}
FILTER_OPS = (">=", "<=", "!@", "!=", ">", "<", "!", "=", "@", "%")  # two-character prefixes are tried first
STAGE_SEMANTICS = {"WON": "S", "LOSE": "F", "APOLOGY": "F", "CONVERTED": "S", "JUNK": "F"}
DEFAULT_STATUSES = (  # crm.status.list of a fresh portal: (ENTITY_ID, STATUS_ID, NAME, SEMANTICS)
    ("DEAL_STAGE", "NEW", "New", ""), ("DEAL_STAGE", "PREPARATION", "Preparing documents", ""),
    ("DEAL_STAGE", "PREPAYMENT_INVOICE", "Prepayment invoice", ""), ("DEAL_STAGE", "EXECUTING", "In progress", ""),
    ("DEAL_STAGE", "FINAL_INVOICE", "Final invoice", ""), ("DEAL_STAGE", "WON", "Deal won", "S"),
    ("DEAL_STAGE", "LOSE", "Deal lost", "F"), ("DEAL_STAGE", "APOLOGY", "Analyze failure", "F"),
    ("STATUS", "NEW", "Unassigned", ""), ("STATUS", "IN_PROCESS", "In progress", ""),
    ("STATUS", "PROCESSED", "Processed", ""), ("STATUS", "JUNK", "Junk lead", "F"),
    ("STATUS", "CONVERTED", "Good lead", "S"),
)
WRITE_METHODS = frozenset({
    "crm.deal.update", "crm.deal.userfield.add", "crm.activity.todo.add", "crm.timeline.comment.add",
    "crm.timeline.logmessage.add", "im.notify.system.add",
})


@dataclass(frozen=True)
class _Kind:
    """One CRM record type: where it is kept, its event prefix, its timestamps, where its IDs start."""

    store: str
    event: str
    created: str
    modified: str | None
    first_id: int  # distinct ranges, so a deal ID passed as an activity ID is "not found", as on a real portal


KINDS = {
    "deal": _Kind("deals", "ONCRMDEAL", "DATE_CREATE", "DATE_MODIFY", 1),
    "lead": _Kind("leads", "ONCRMLEAD", "DATE_CREATE", "DATE_MODIFY", 201),
    "contact": _Kind("contacts", "ONCRMCONTACT", "DATE_CREATE", "DATE_MODIFY", 401),
    "activity": _Kind("activities", "ONCRMACTIVITY", "CREATED", "LAST_UPDATED", 1001),
    "comment": _Kind("comments", "ONCRMTIMELINECOMMENT", "CREATED", None, 5001),
}
_PERSON = {"ASSIGNED_BY_ID": "1", "CREATED_BY_ID": "1", "MODIFY_BY_ID": "1", "DATE_CREATE": "", "DATE_MODIFY": "",
           "OPENED": "Y", "COMMENTS": "", "SOURCE_ID": None}
DEFAULTS = {  # the fields a fresh record has before the seeded ones are laid over them
    "deal": {"TITLE": "", "TYPE_ID": "SALE", "STAGE_ID": "NEW", "STAGE_SEMANTIC_ID": "P", "CATEGORY_ID": "0",
             "IS_NEW": "Y", "CLOSED": "N", "OPPORTUNITY": "0.00", "CURRENCY_ID": "RUB", "COMPANY_ID": "0",
             "CONTACT_ID": None, "LEAD_ID": None, "MOVED_TIME": "", "BEGINDATE": "", "CLOSEDATE": "", **_PERSON},
    "lead": {"TITLE": "", "NAME": "", "LAST_NAME": "", "STATUS_ID": "NEW", "STATUS_SEMANTIC_ID": "P",
             "OPPORTUNITY": "0.00", "CURRENCY_ID": "RUB", "CONTACT_ID": None, "COMPANY_ID": None,
             "HAS_PHONE": "N", "HAS_EMAIL": "N", **_PERSON},
    "contact": {"NAME": "", "SECOND_NAME": "", "LAST_NAME": "", "POST": "", "BIRTHDATE": "", "TYPE_ID": "CLIENT",
                "COMPANY_ID": None, "LEAD_ID": None, "HAS_PHONE": "N", "HAS_EMAIL": "N", **_PERSON},
    "activity": {"OWNER_TYPE_ID": "2", "OWNER_ID": None, "TYPE_ID": "6", "PROVIDER_ID": "CRM_TODO",
                 "PROVIDER_TYPE_ID": "TODO", "DIRECTION": "0", "COMPLETED": "N", "STATUS": "1", "SUBJECT": "",
                 "DESCRIPTION": "", "DESCRIPTION_TYPE": "1", "START_TIME": "", "END_TIME": "", "DEADLINE": "",
                 "CREATED": "", "LAST_UPDATED": "", "RESPONSIBLE_ID": "1", "AUTHOR_ID": "1", "EDITOR_ID": "1",
                 "PRIORITY": "2", "ORIGIN_ID": "", "RESULT_STREAM": "0", "SETTINGS": {}, "PROVIDER_PARAMS": {}},
    "comment": {"ENTITY_ID": None, "ENTITY_TYPE": "deal", "CREATED": "", "COMMENT": "", "AUTHOR_ID": "1",
                "FILES": {}},
}


class RestError(Exception):
    """A Bitrix24 error answer; many CRM errors have an empty ``error`` and only a description."""

    def __init__(self, status: int, code: str, description: str):
        super().__init__(f"{status} {code}: {description}")
        self.status, self.code, self.description = status, code, description

    def body(self) -> dict:
        return {"error": self.code, "error_description": self.description}


@dataclass
class _Page:
    """A list method's rows plus the envelope's ``total``/``next`` (None: left out, as with ``start=-1``)."""

    rows: list
    total: int | None
    next: int | None


@dataclass
class _Fault:
    kind: str
    method: str | None
    times: int
    seconds: float


def _scalar(value) -> str:
    """How Bitrix24 compares filter and field values: as text, with booleans as Y/N and null as empty."""
    if isinstance(value, bool):
        return "Y" if value else "N"
    return "" if value is None else str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _php(value):
    """PHP's json_encode writes an empty array as ``[]`` whether it was meant as a map or a list."""
    if isinstance(value, dict):
        return {k: _php(v) for k, v in value.items()} or []
    if isinstance(value, list):
        return [_php(v) for v in value]
    return value


def _values(field) -> list[str]:
    """A field as the texts a filter tests; a multifield (PHONE…) matches when any of its values does."""
    if isinstance(field, list):
        return [_scalar(item.get("VALUE") if isinstance(item, dict) else item) for item in field]
    return [_scalar(field)]


def _bound(row: dict, wanted) -> bool:
    """``filter[BINDINGS]`` of crm.activity.list: any of the wanted owners among the activity's bindings."""
    have = {(_scalar(b["OWNER_TYPE_ID"]), _scalar(b["OWNER_ID"])) for b in row.get("BINDINGS") or []}
    wanted = wanted if isinstance(wanted, list) else [wanted]
    return any((_scalar(w.get("OWNER_TYPE_ID")), _scalar(w.get("OWNER_ID"))) in have for w in wanted)


def _project(row: dict, select) -> dict:
    """``select``: ``*`` is every plain field (not UF_ nor multifields, as in Bitrix24), ``UF_*`` the user fields,
    anything else by name; ID always. None means no projection (methods without ``select``)."""
    if select is None:
        return dict(row)
    names = [select] if isinstance(select, str) else list(select) or ["*"]
    keep = {"ID", *names}
    if "*" in names:
        keep |= {k for k in row if not k.startswith("UF_") and k not in MULTIFIELDS}
    if "UF_*" in names:
        keep |= {k for k in row if k.startswith("UF_")}
    return {k: v for k, v in row.items() if k in keep}


def _resolve(reference: str, results: dict):
    """A path into earlier batch results, walked as Bitrix24 walks it: as deep as it exists."""
    node = results
    for key in re.findall(r"\[([^\]]+)\]", reference):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            break
    return node


def _with_references(value, results: dict):
    """Batch parameters with ``$result[…]`` replaced: a whole value by what it points to, inside text by its text.
    b24pysdk's ``as_list_fast`` chains its pages this way."""
    if isinstance(value, dict):
        return {k: _with_references(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_references(v, results) for v in value]
    if not isinstance(value, str) or "$result" not in value:
        return value
    whole = BATCH_REFERENCE.fullmatch(value)
    if whole:
        return _resolve(whole.group(1), results)
    return BATCH_REFERENCE.sub(lambda m: _scalar(_resolve(m.group(1), results)), value)


def _stage_semantic(stage: str) -> str:
    """P, S or F for a deal stage or lead status, pipeline prefix (``C1:``) ignored."""
    return STAGE_SEMANTICS.get(stage.rpartition(":")[2], "P")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost that is its own CA, so one PEM file is the whole trust bundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-bitrix24")])
    now = datetime.now(UTC)
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fake-portal.pem", folder / "fake-portal.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def _request_params(request: Request) -> dict:
    """Bitrix24 takes parameters from the query string and from a JSON or form-encoded body."""
    params = parse_nested(request.url.query)
    body = await request.body()
    if not body:
        return params
    if "json" in request.headers.get("content-type", ""):
        loaded = json.loads(body)
        if not isinstance(loaded, dict):
            raise ValueError("a JSON body must be an object")
        return params | loaded
    return params | parse_nested(body.decode("utf-8"))


async def _hang_up(send) -> None:
    """Close the connection with no answer. ASGI has no message for that, so this uses the transport of
    uvicorn's h11 request cycle behind ``send`` (the config pins h11), then waits for uvicorn to see the
    disconnect, or it would write a 500 of its own."""
    cycle = send.__self__
    cycle.transport.abort()
    for _ in range(100):
        if cycle.disconnected:
            return
        await asyncio.sleep(0.01)


class FakePortal:
    """One Bitrix24 portal with an incoming webhook for REST and an outgoing webhook for events.

    Inspection attributes hold the stored wire dicts; read them, and change them through the seeding methods,
    which produce the events a real portal would. ``requests`` has ``(monotonic time, method, outcome)`` for
    every REST call: outcome ``ok``, the error code (the HTTP status when the code is empty), or
    ``fault:<kind>`` for an injected fault; batch sub-commands appear as ``batch:<method>`` before their
    ``batch``. ``writes`` has every write call that reached its method, including ones answered with an error.
    List methods follow Bitrix24's ``select``: ``*`` (or none) leaves out UF_ fields and PHONE/EMAIL/WEB/IM,
    which must be named or asked for with ``UF_*``; the ``get`` methods return everything.
    """

    def __init__(self, *, member_id="fake-member-0001", application_token="fake-app-token",
                 webhook_user_id="1", webhook_key="fakewebhookkey", utc_offset="+03:00",
                 rate_per_second=None, burst=50):
        self.member_id, self.application_token = member_id, application_token
        self.webhook_user_id, self.webhook_key = str(webhook_user_id), webhook_key
        self.rate_per_second, self.burst = rate_per_second, burst
        self.domain = self.webhook_url = self.ca_file = None
        self._tz = datetime.strptime(utc_offset, "%z").tzinfo
        self.deals, self.leads, self.contacts, self.activities, self.comments = {}, {}, {}, {}, {}
        self.users, self.notifications = {}, {}
        self.call_stats, self.userfields, self.log_messages, self.todos = [], [], [], []
        self.requests, self.writes, self.events = [], [], []
        self.statuses = self._default_statuses()
        self._deal_contacts, self._product_rows = {}, {}
        self._counters = {kind: spec.first_id - 1 for kind, spec in KINDS.items()}
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._faults: list[_Fault] = []
        self._bucket, self._bucket_at = 0.0, time.monotonic()
        self._subscriber, self._comment_shape = None, "fields"
        self._pending, self._paused, self._in_flight, self._closing = [], False, False, False
        self._drop, self._repeat, self._reorder, self._rng = 0.0, 0.0, False, random.Random(0)
        self._server = self._thread = self._courier = self._certdir = None
        self._methods = {
            "crm.deal.get": lambda p: self._get("deal", p), "crm.deal.list": lambda p: self._list("deal", p),
            "crm.deal.update": self._deal_update, "crm.deal.contact.items.get": self._deal_contact_items,
            "crm.deal.productrows.get": lambda p: self._product_rows.get(self._get("deal", p)["ID"], []),
            "crm.deal.userfield.list": lambda p: self._listing(self.userfields, p.get("filter"), p, None),
            "crm.deal.userfield.add": self._userfield_add,
            "crm.lead.get": lambda p: self._get("lead", p), "crm.lead.list": lambda p: self._list("lead", p),
            "crm.contact.get": lambda p: self._get("contact", p),
            "crm.contact.list": lambda p: self._list("contact", p),
            "crm.activity.get": lambda p: self._get("activity", p),
            "crm.activity.list": lambda p: self._list("activity", p), "crm.activity.todo.add": self._todo_add,
            "crm.timeline.comment.get": lambda p: self._get("comment", p),
            "crm.timeline.comment.list": self._comment_list, "crm.timeline.comment.add": self._comment_add,
            "crm.timeline.logmessage.add": self._logmessage_add, "voximplant.statistic.get": self._call_stats,
            "im.notify.system.add": self._notify, "user.get": self._users,
            "crm.status.list": lambda p: self._listing(self.statuses, p.get("filter"), p, None),
            "crm.timeline.logmessage.list": self._logmessage_list,
            "server.time": lambda p: self._iso(self._now()),
        }

    # ---- server lifecycle -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> "FakePortal":
        """Serve HTTPS on 127.0.0.1 (a free port unless one is given) and return once it answers."""
        self._certdir = Path(tempfile.mkdtemp(prefix="fake-bitrix24-"))
        cert, key = _self_signed(self._certdir)
        self.ca_file = str(cert)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit it: uvicorn writes headers and body separately, and Nagle's algorithm
        # would hold the body for the client's delayed ACK, 40 ms on every answer
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", port))
        self.domain = f"127.0.0.1:{sock.getsockname()[1]}"
        self.webhook_url = f"https://{self.domain}/rest/{self.webhook_user_id}/{self.webhook_key}/"
        config = uvicorn.Config(self._gate(self._app()), ssl_certfile=str(cert), ssl_keyfile=str(key),
                                log_level="warning", access_log=False, http="h11", ws="none", loop="asyncio",
                                lifespan="off", proxy_headers=False)
        self._server = uvicorn.Server(config)  # signal handlers are only installed from the main thread
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="fake-bitrix24")
        self._thread.start()
        self._wait_until_up()
        return self

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Bitrix24 portal did not start")
            time.sleep(0.01)
        httpx.get(f"https://{self.domain}/", verify=ssl.create_default_context(cafile=self.ca_file))

    def stop(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._courier is not None:
            self._courier.join(timeout=5)
        if self._server is not None:
            self._server.should_exit = self._server.force_exit = True  # don't wait for keep-alive clients
            self._thread.join(timeout=5)
        if self._certdir is not None:
            shutil.rmtree(self._certdir, ignore_errors=True)

    def __enter__(self) -> "FakePortal":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/rest/{user}/{key}/{method}", methods=["GET", "POST"])
        async def rest(user: str, key: str, method: str, request: Request) -> Response:
            try:
                params = await _request_params(request)
            except ValueError:  # bad JSON, bad UTF-8 or a bracketed key Bitrix24 would not accept
                params = None
            status, content = self._answer(user, key, method.removesuffix(".json").lower(), params)
            return Response(content, status_code=status, media_type="application/json")

        return app

    def _gate(self, app):
        """Injected faults come before everything else, as a proxy in front of the portal would show them."""

        async def gate(scope, receive, send):
            fault = self._take_fault(scope["path"]) if scope["type"] == "http" else None
            if fault is None:
                return await app(scope, receive, send)
            if fault.kind == "slow":
                await asyncio.sleep(fault.seconds)
                return await app(scope, receive, send)
            if fault.kind == "slow_answer":  # done on the portal, the answer late: a client may die before it

                async def late(message):
                    if message["type"] == "http.response.start":
                        await asyncio.sleep(fault.seconds)
                    await send(message)

                return await app(scope, receive, late)
            if fault.kind == "drop":
                return await _hang_up(send)
            status, code, description = HTTP_FAULTS[fault.kind]
            await JSONResponse({"error": code, "error_description": description}, status)(scope, receive, send)

        return gate

    # ---- faults -----------------------------------------------------------------------------------------

    def fail_next(self, kind: str, *, method: str | None = None, times: int = 1, seconds: float = 0.0) -> None:
        """The next `times` HTTP requests (to `method`, or any) fail: "503", "429", "500", "slow" (answered after
        `seconds`) or "drop" (connection closed unanswered). A batch is matched as method "batch"."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind, method and method.lower(), times, seconds))

    def _take_fault(self, path: str) -> _Fault | None:
        parts = path.split("/")
        if len(parts) != 5 or parts[1] != "rest":
            return None
        method = parts[4].removesuffix(".json").lower()
        with self._lock:
            fault = next((f for f in self._faults if f.method in (None, method)), None)
            if fault is None:
                return None
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            if fault.kind not in ("slow", "slow_answer"):  # a slow call is recorded when it is answered
                self._record(method, f"fault:{fault.kind}")
            return fault

    def _admit(self) -> bool:
        """The leaky bucket: it drains `rate_per_second`, a request adds one, a full bucket refuses."""
        if self.rate_per_second is None:
            return True
        now = time.monotonic()
        self._bucket = max(0.0, self._bucket - (now - self._bucket_at) * self.rate_per_second)
        self._bucket_at = now
        if self._bucket + 1 > self.burst:
            return False
        self._bucket += 1
        return True

    # ---- REST dispatch ----------------------------------------------------------------------------------

    def _answer(self, user: str, key: str, method: str, params: dict | None) -> tuple[int, bytes]:
        """One HTTP request → status and JSON bytes, rendered under the lock so no later change leaks in."""
        with self._lock:
            status, body = self._refusal(user, key, method) or self._call(method, params)
            return status, json.dumps(_php(body)).encode()

    def _refusal(self, user, key, method) -> tuple[int, dict] | None:
        """What is refused before any method runs: the rate limit, then the webhook's credentials."""
        if not self._admit():
            error = RestError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        elif (user, key) != (self.webhook_user_id, self.webhook_key):
            error = RestError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
        else:
            return None
        self._record(method, error.code)
        return error.status, error.body()

    def _call(self, method: str, params: dict, *, nested: bool = False) -> tuple[int, dict]:
        """Run one method (a whole request, or one command of a batch) and wrap it in Bitrix24's envelope."""
        started = time.time()
        label = f"batch:{method}" if nested else method
        try:
            result = self._run(method, params, nested)
        except RestError as error:
            self._record(label, error.code or str(error.status))
            return error.status, error.body()
        self._record(label, "ok")
        if isinstance(result, _Page):
            body = {"result": result.rows}
            if result.next is not None:
                body["next"] = result.next
            if result.total is not None:
                body["total"] = result.total
        else:
            body = {"result": result}
        body["time"] = self._timing(started)
        return 200, body

    def _run(self, method: str, params: dict | None, nested: bool):
        """The method's result; a parameter the handler cannot use becomes a 400, never a 500."""
        if params is None:  # the body or the batch command did not parse
            raise RestError(400, "INVALID_REQUEST", "Invalid request parameters")
        if method == "batch" and nested:
            raise RestError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
        handler = self._batch if method == "batch" else self._methods.get(method)
        if handler is None:
            raise RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        if method in WRITE_METHODS:
            self.writes.append((method, params))
        try:
            return handler(params)
        except (ValueError, TypeError, AttributeError, LookupError) as error:
            raise RestError(400, "INVALID_ARG_VALUE", f"Invalid parameters: {error!r}") from None

    def _record(self, method: str, outcome: str) -> None:
        self.requests.append((time.monotonic(), method, outcome))

    def _timing(self, started: float) -> dict:
        finish = time.time()
        return {"start": started, "finish": finish, "duration": finish - started, "processing": finish - started,
                "date_start": self._iso(datetime.fromtimestamp(started, self._tz)),
                "date_finish": self._iso(datetime.fromtimestamp(finish, self._tz)),
                "operating_reset_at": int(finish) + 600, "operating": 0.0}

    def _batch(self, params: dict) -> dict:
        commands = params.get("cmd") or {}
        if isinstance(commands, list):
            commands = {str(i): command for i, command in enumerate(commands)}
        if len(commands) > BATCH_LIMIT:
            raise RestError(400, "ERROR_BATCH_LENGTH_EXCEEDED", f"Max batch length exceeded ({BATCH_LIMIT})")
        halt = _scalar(params.get("halt")) in ("1", "Y", "True", "true")
        out = {"result": {}, "result_error": {}, "result_total": {}, "result_next": {}, "result_time": {}}
        for key, command in commands.items():
            method, _, query = str(command).partition("?")
            try:
                command_params = _with_references(parse_nested(query), out["result"])
            except ValueError:
                command_params = None
            _, body = self._call(method.strip().lower(), command_params, nested=True)
            if "error" in body:
                out["result_error"][key] = body
                if halt:
                    break
                continue
            out["result"][key] = body["result"]
            out["result_time"][key] = body["time"]
            for field in ("total", "next"):
                if field in body:
                    out[f"result_{field}"][key] = body[field]
        return out

    # ---- reading and filtering --------------------------------------------------------------------------

    def _get(self, kind: str, params: dict) -> dict:
        row_id = _scalar(params.get("id", params.get("ID")))
        if not row_id:
            raise RestError(400, "", "ID is not defined or invalid.")
        row = getattr(self, KINDS[kind].store).get(row_id)
        if row is None:
            raise RestError(400, "", "Not found")
        return dict(row)

    def _list(self, kind: str, params: dict) -> _Page:
        rows = getattr(self, KINDS[kind].store).values()
        return self._listing(rows, params.get("filter"), params, params.get("select") or ["*"])

    def _listing(self, rows, flt, params: dict, select, order=None) -> _Page:
        """Filter, order (ID ascending unless told), page by 50 from `start`; ``start=-1`` skips the count."""
        rows = [row for row in rows if self._matches(row, flt)]
        for name, direction in reversed(list((order or params.get("order") or {"ID": "ASC"}).items())):
            rows.sort(key=lambda row: self._sort_key(row.get(name)), reverse=str(direction).upper() == "DESC")
        start = int(_scalar(params.get("start")) or 0)
        if start == -1:
            return _Page([_project(row, select) for row in rows[:PAGE_SIZE]], None, None)
        following = start + PAGE_SIZE
        page = [_project(row, select) for row in rows[start:following]]
        return _Page(page, len(rows), following if following < len(rows) else None)

    def _matches(self, row: dict, flt) -> bool:
        if not isinstance(flt, dict):  # missing, or an empty PHP array
            return True
        for key, wanted in flt.items():
            if key == "BINDINGS":
                if not _bound(row, wanted):
                    return False
                continue
            op = next((op for op in FILTER_OPS if key.startswith(op)), "")
            if not self._holds(op, _values(row.get(key[len(op):])), wanted):
                return False
        return True

    def _holds(self, op: str, values: list[str], wanted) -> bool:
        """One filter condition; a list as the wanted value means IN."""
        options = [_scalar(w) for w in wanted] if isinstance(wanted, list) else [_scalar(wanted)]
        if op in ("", "=", "@"):
            return any(v in options for v in values)
        if op in ("!", "!=", "!@"):
            return not any(v in options for v in values)
        if isinstance(wanted, list | dict):  # what a batch reference past the last row leaves: nothing compares
            return False
        if op == "%":
            return any(options[0].lower() in v.lower() for v in values)
        results = (self._compare(v, options[0]) for v in values)
        return any(c is not None and COMPARISONS[op](c) for c in results)

    def _compare(self, actual: str, wanted: str) -> int | None:
        """Numbers as numbers, datetimes as moments (with or without offset), else text; empty never compares."""
        if not actual or not wanted:
            return None
        for convert in (_number, self._moment):
            a, b = convert(actual), convert(wanted)
            if a is not None and b is not None:
                return (a > b) - (a < b)
        return (actual > wanted) - (actual < wanted)

    def _sort_key(self, value) -> tuple:
        text = _scalar(value)
        if (number := _number(text)) is not None:
            return 0, number, ""
        if (moment := self._moment(text)) is not None:
            return 1, moment.timestamp(), ""
        return 2, 0.0, text

    # ---- REST methods that are more than a read ---------------------------------------------------------

    def _deal_update(self, params: dict) -> bool:
        deal_id = self._get("deal", params)["ID"]
        fields = params.get("fields") or {}
        self._change("deal", deal_id, {**fields, "MODIFY_BY_ID": self.webhook_user_id})
        return True

    def _deal_contact_items(self, params: dict) -> list[dict]:
        contacts = self._deal_contacts.get(self._get("deal", params)["ID"], [])
        return [{"CONTACT_ID": int(c), "SORT": 10 * (i + 1), "ROLE_ID": 0, "IS_PRIMARY": "Y" if i == 0 else "N"}
                for i, c in enumerate(contacts)]

    def _userfield_add(self, params: dict) -> int:
        fields = dict(params.get("fields") or {})
        name = _scalar(fields.pop("FIELD_NAME", "")).upper()
        if not name:
            raise RestError(400, "", "FIELD_NAME is required")
        name = name if name.startswith("UF_CRM_") else f"UF_CRM_{name}"
        if any(uf["FIELD_NAME"] == name for uf in self.userfields):
            raise RestError(400, "", f"A user field named {name} already exists")
        options = fields.pop("LIST", None) or []
        row = {"ID": self._new_id("userfield"), "ENTITY_ID": "CRM_DEAL", "FIELD_NAME": name,
               "USER_TYPE_ID": "string", "XML_ID": None, "SORT": "100", "MULTIPLE": "N", "MANDATORY": "N",
               "SHOW_FILTER": "N", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "Y", "SETTINGS": {}, **self._fields(fields)}
        if row["USER_TYPE_ID"] == "enumeration":
            row["LIST"] = [{"ID": self._new_id("enum"), "SORT": "100", "VALUE": "", "DEF": "N", "XML_ID": None,
                            **self._fields(option)} for option in options]
        self.userfields.append(row)
        for deal in self.deals.values():
            deal.setdefault(name, None)
        return int(row["ID"])

    def _todo_add(self, params: dict) -> dict:
        owner_type, owner_id = _scalar(params.get("ownerTypeId")), _scalar(params.get("ownerId"))
        deadline = self._moment(_scalar(params.get("deadline")))
        if not owner_type or not owner_id or deadline is None:
            raise RestError(400, "", "ownerTypeId, ownerId and a valid deadline are required")
        self._require_owner(owner_type, owner_id)
        when = self._iso(deadline)
        user = self.webhook_user_id
        activity_id = self.add_activity(
            OWNER_TYPE_ID=owner_type, OWNER_ID=owner_id, TYPE_ID="6", PROVIDER_ID="CRM_TODO",
            PROVIDER_TYPE_ID="TODO", SUBJECT=params.get("title") or "", DESCRIPTION=params.get("description") or "",
            START_TIME=when, END_TIME=when, DEADLINE=when, RESPONSIBLE_ID=params.get("responsibleId") or user,
            AUTHOR_ID=user, EDITOR_ID=user)
        self.todos.append(activity_id)
        return {"id": int(activity_id)}

    def _comment_list(self, params: dict) -> _Page:
        flt = params.get("filter")
        if not isinstance(flt, dict) or not flt.get("ENTITY_TYPE") or not flt.get("ENTITY_ID"):
            raise RestError(400, "", "ENTITY_TYPE and ENTITY_ID are required in filter")
        flt = {**flt, "ENTITY_TYPE": _scalar(flt["ENTITY_TYPE"]).lower()}
        return self._listing(self.comments.values(), flt, params, params.get("select") or ["*"])

    def _comment_add(self, params: dict) -> int:
        fields = params.get("fields") or {}
        entity_type, entity_id = _scalar(fields.get("ENTITY_TYPE")).lower(), _scalar(fields.get("ENTITY_ID"))
        if not entity_type or not entity_id or not fields.get("COMMENT"):
            raise RestError(400, "", "ENTITY_TYPE, ENTITY_ID and COMMENT are required")
        self._require_owner(ENTITY_TYPE_IDS.get(entity_type, ""), entity_id)
        author = fields.get("AUTHOR_ID") or self.webhook_user_id
        return int(self.add_comment(entity_type, entity_id, fields["COMMENT"], author_id=author))

    def _logmessage_add(self, params: dict) -> dict:
        fields = params.get("fields") or {}
        missing = [k for k in ("entityTypeId", "entityId", "title", "text", "iconCode") if not fields.get(k)]
        if missing:
            raise RestError(400, "", f"Required fields are missing: {', '.join(missing)}")
        message = {"id": int(self._new_id("logmessage")), "entityTypeId": int(fields["entityTypeId"]),
                   "entityId": int(fields["entityId"]), "title": fields["title"], "text": fields["text"],
                   "iconCode": fields["iconCode"], "created": self._iso(self._now()),
                   "authorId": int(self.webhook_user_id)}
        self.log_messages.append(message)
        return {"logMessage": dict(message)}

    def _logmessage_list(self, params: dict) -> dict:
        """Only records created over REST, as on a real portal; camelCase keys, ``logMessages`` list."""
        type_id, entity = str(params.get("entityTypeId", "")), str(params.get("entityId", ""))
        if not type_id or not entity:
            raise RestError(400, "", "Required parameters are missing: entityTypeId, entityId")
        found = [dict(m) for m in self.log_messages
                 if str(m["entityTypeId"]) == type_id and str(m["entityId"]) == entity]
        return {"logMessages": found}

    def _call_stats(self, params: dict) -> _Page:
        sort = params.get("SORT") or params.get("sort")
        order = {sort: params.get("ORDER") or params.get("order") or "ASC"} if sort else None
        flt = params.get("FILTER") or params.get("filter")
        return self._listing(self.call_stats, flt, params, None, order or {"ID": "ASC"})

    def _notify(self, params: dict) -> int:
        if not params.get("USER_ID") or not params.get("MESSAGE"):
            raise RestError(400, "", "USER_ID and MESSAGE are required")
        note_id = int(self._new_id("notification"))
        tag = _scalar(params.get("TAG"))
        key = tag or f"#{note_id}"
        self.notifications.pop(key, None)  # a new notice with the same TAG replaces the old one
        self.notifications[key] = {"id": note_id, **params}
        return note_id

    def _users(self, params: dict) -> _Page:
        flt = params.get("FILTER") or params.get("filter") or {
            k: v for k, v in params.items() if k.isupper() and k not in ("SORT", "ORDER", "ADMIN_MODE")}
        return self._listing(self.users.values(), flt, {"start": params.get("start")}, None)

    def _require_owner(self, type_id: str, owner_id: str) -> None:
        store = {"1": self.leads, "2": self.deals, "3": self.contacts}.get(type_id)
        if store is not None and owner_id not in store:
            raise RestError(400, "", "Not found")

    # ---- state changes (seeding and REST writes share them) ---------------------------------------------

    def _new_id(self, counter: str, wanted=None) -> str:
        last = self._counters.get(counter, 0)
        new = last + 1 if wanted is None else int(wanted)
        self._counters[counter] = max(last, new)
        return str(new)

    def _fields(self, fields: dict) -> dict:
        return {name: self._multifield(name, value) if name in MULTIFIELDS else self._wire(value)
                for name, value in fields.items() if name != "ID"}

    def _multifield(self, type_id: str, items) -> list[dict]:
        """``PHONE=["+7…"]`` or ``[{"VALUE": …, "VALUE_TYPE": "MOBILE"}]`` → Bitrix24's multifield entries."""
        entries = []
        for item in items if isinstance(items, list | tuple) else [items]:
            item = {"VALUE": item} if isinstance(item, str) else item
            entries.append({"ID": self._new_id("multifield"), "VALUE_TYPE": item.get("VALUE_TYPE", "WORK"),
                            "VALUE": item["VALUE"], "TYPE_ID": type_id})
        return entries

    def _insert(self, kind: str, fields: dict) -> str:
        spec = KINDS[kind]
        with self._lock:
            row_id = self._new_id(kind, fields.get("ID"))
            user_fields = {uf["FIELD_NAME"]: None for uf in self.userfields} if kind == "deal" else {}
            row = {"ID": row_id, **DEFAULTS[kind], **user_fields}
            changed = self._fields(fields)
            row.update(changed)
            now = self._iso(self._now())
            for stamp in (spec.created, spec.modified):
                if stamp and not row[stamp]:
                    row[stamp] = now
            self._complete(kind, row, changed)
            getattr(self, spec.store)[row_id] = row
            self._emit(f"{spec.event}ADD", {"FIELDS": {"ID": row_id}})
        return row_id

    def _change(self, kind: str, row_id, fields: dict) -> None:
        spec = KINDS[kind]
        with self._lock:
            row = getattr(self, spec.store)[str(row_id)]
            changed = self._fields(fields)
            row.update(changed)
            if spec.modified and spec.modified not in changed:
                row[spec.modified] = self._iso(self._now())
            self._complete(kind, row, changed)
            self._emit(f"{spec.event}UPDATE", {"FIELDS": {"ID": row["ID"]}})

    def _remove(self, kind: str, row_id) -> None:
        spec = KINDS[kind]
        with self._lock:
            getattr(self, spec.store).pop(str(row_id))
            self._emit(f"{spec.event}DELETE", {"FIELDS": {"ID": str(row_id)}})

    def _complete(self, kind: str, row: dict, changed: dict) -> None:
        """The fields Bitrix24 derives itself from the ones just written."""
        if kind == "deal" and "STAGE_ID" in changed:
            semantic = _stage_semantic(row["STAGE_ID"])
            row.update(STAGE_SEMANTIC_ID=semantic, CLOSED="N" if semantic == "P" else "Y",
                       IS_NEW="Y" if row["STAGE_ID"].endswith("NEW") else "N")
            row["MOVED_TIME"] = changed.get("MOVED_TIME") or self._iso(self._now())
        if kind == "lead" and "STATUS_ID" in changed:
            row["STATUS_SEMANTIC_ID"] = _stage_semantic(row["STATUS_ID"])
        for multifield, flag in (("PHONE", "HAS_PHONE"), ("EMAIL", "HAS_EMAIL")):
            if multifield in changed:
                row[flag] = "Y" if row[multifield] else "N"
        if kind == "activity" and "BINDINGS" not in row:
            row["BINDINGS"] = [{"OWNER_ID": row["OWNER_ID"], "OWNER_TYPE_ID": row["OWNER_TYPE_ID"]}]

    def _default_statuses(self) -> list[dict]:
        colors = {"": "#39A8EF", "S": "#7BD500", "F": "#FF5752"}
        extra = {"": "process", "S": "success", "F": "failure"}
        return [{"ID": str(n), "ENTITY_ID": entity, "STATUS_ID": status, "NAME": name, "NAME_INIT": name,
                 "SORT": str(10 * n), "SYSTEM": "Y", "CATEGORY_ID": "0" if entity == "DEAL_STAGE" else None,
                 "COLOR": colors[semantic], "SEMANTICS": semantic or None,
                 "EXTRA": {"SEMANTICS": "apology" if status == "APOLOGY" else extra[semantic],
                           "COLOR": colors[semantic]}}
                for n, (entity, status, name, semantic) in enumerate(DEFAULT_STATUSES, start=1)]

    # ---- time -------------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.now(self._tz)

    def _iso(self, moment: datetime) -> str:
        """``2026-11-30T14:29:00+03:00``: Bitrix24 writes every datetime in the portal's offset."""
        moment = moment.replace(tzinfo=self._tz) if moment.tzinfo is None else moment.astimezone(self._tz)
        return moment.replace(microsecond=0).isoformat()

    def _moment(self, text: str) -> datetime | None:
        """An ISO datetime or date as Bitrix24 accepts it; without an offset it is portal time."""
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment.replace(tzinfo=self._tz) if moment.tzinfo is None else moment

    def _wire(self, value):
        """A Python value as Bitrix24 would send it back: text for numbers, Y/N, portal-offset datetimes."""
        if isinstance(value, bool):
            return "Y" if value else "N"
        if isinstance(value, datetime):
            return self._iso(value)
        if isinstance(value, date):
            return self._iso(datetime.combine(value, datetime.min.time()))
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, list | tuple):
            return [self._wire(v) for v in value]
        if isinstance(value, dict):
            return {k: self._wire(v) for k, v in value.items()}
        return value

    # ---- seeding ----------------------------------------------------------------------------------------

    def add_user(self, id, name, last_name) -> str:
        user_id = str(id)
        with self._lock:
            self.users[user_id] = {"ID": user_id, "ACTIVE": True, "NAME": name, "LAST_NAME": last_name,
                                   "EMAIL": f"user{user_id}@example.com", "WORK_POSITION": "", "UF_DEPARTMENT": [1]}
        return user_id

    def add_deal(self, **fields) -> str:
        return self._insert("deal", fields)

    def update_deal(self, id, **fields) -> None:
        self._change("deal", id, fields)

    def delete_deal(self, id) -> None:
        with self._lock:
            self._deal_contacts.pop(str(id), None)
            self._product_rows.pop(str(id), None)
            self._remove("deal", id)

    def add_contact(self, **fields) -> str:
        return self._insert("contact", fields)

    def update_contact(self, id, **fields) -> None:
        self._change("contact", id, fields)

    def add_lead(self, **fields) -> str:
        return self._insert("lead", fields)

    def update_lead(self, id, **fields) -> None:
        self._change("lead", id, fields)

    def set_deal_contacts(self, deal_id, contact_ids) -> None:
        """The deal's contacts in order, the first primary; CONTACT_ID (deprecated) follows the first."""
        with self._lock:
            contacts = [str(c) for c in contact_ids]
            self._deal_contacts[str(deal_id)] = contacts
            self._change("deal", deal_id, {"CONTACT_ID": contacts[0] if contacts else None})

    def set_product_rows(self, deal_id, rows) -> None:
        """Product rows mix ints, floats and strings on the wire; given keys override the defaults."""
        with self._lock:
            self._product_rows[str(deal_id)] = [
                {"ID": int(self._new_id("productrow")), "OWNER_ID": int(deal_id), "OWNER_TYPE": "D",
                 "PRODUCT_ID": 0, "PRODUCT_NAME": row.get("PRODUCT_NAME", ""),
                 "ORIGINAL_PRODUCT_NAME": row.get("PRODUCT_NAME", ""), "PRICE": float(row.get("PRICE", 0)),
                 "PRICE_EXCLUSIVE": float(row.get("PRICE", 0)), "QUANTITY": float(row.get("QUANTITY", 1)),
                 "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 0, "DISCOUNT_SUM": 0, "TAX_RATE": None,
                 "TAX_INCLUDED": "N", "MEASURE_CODE": 796, "MEASURE_NAME": "pcs", "SORT": 10 * (i + 1), **row}
                for i, row in enumerate(rows)]

    def add_activity(self, **fields) -> str:
        return self._insert("activity", fields)

    def update_activity(self, id, **fields) -> None:
        self._change("activity", id, fields)

    def delete_activity(self, id) -> None:
        self._remove("activity", id)

    def add_comment(self, entity_type, entity_id, text, author_id="1", created=None) -> str:
        fields = {"ENTITY_ID": str(entity_id), "ENTITY_TYPE": entity_type.lower(), "COMMENT": text,
                  "AUTHOR_ID": str(author_id)}
        if created is not None:
            fields["CREATED"] = created
        return self._insert("comment", fields)

    def update_comment(self, id, text) -> None:
        self._change("comment", id, {"COMMENT": text})

    def delete_comment(self, id) -> None:
        self._remove("comment", id)

    def log_call(self, owner_id, *, owner_type_id=2, user_id="1", at=None, duration=120, connected=True,
                 direction="out", comment=None) -> str:
        """A finished telephony call as the voximplant module writes it: the CRM activity, the statistic row
        and ONVOXIMPLANTCALLEND; with `comment`, the manager's timeline note a minute after the call."""
        start = self._now() if at is None else self._moment(at) if isinstance(at, str) else at
        seconds = duration if connected else 0
        end = start + timedelta(seconds=seconds)
        incoming, user, owner_type = direction == "in", str(user_id), str(owner_type_id)
        call_id = f"externalCall.{uuid.uuid4().hex}.{int(start.timestamp())}"
        with self._lock:
            activity_id = self.add_activity(
                OWNER_TYPE_ID=owner_type, OWNER_ID=str(owner_id), TYPE_ID="2", PROVIDER_ID="VOXIMPLANT_CALL",
                PROVIDER_TYPE_ID="CALL", DIRECTION="1" if incoming else "2",
                SUBJECT="Incoming call" if incoming else "Outgoing call",
                COMPLETED="N" if incoming and not connected else "Y", STATUS="1" if incoming and not connected else "2",
                START_TIME=start, END_TIME=end, DEADLINE=start, CREATED=end, LAST_UPDATED=end,
                RESPONSIBLE_ID=user, AUTHOR_ID=user, EDITOR_ID=user, ORIGIN_ID=f"VI_{call_id}",
                RESULT_STREAM=("1" if incoming else "2") if connected else "4",
                SETTINGS={"MISSED_CALL": True} if incoming and not connected else {})
            stat = {"ID": self._new_id("callstat"), "CALL_ID": call_id, "CALL_TYPE": "2" if incoming else "1",
                    "CALL_CATEGORY": "external", "PORTAL_USER_ID": user, "PORTAL_NUMBER": "", "PHONE_NUMBER": "",
                    "CALL_DURATION": str(seconds), "CALL_START_DATE": self._iso(start),
                    "CALL_FAILED_CODE": "200" if connected else "304",
                    "CALL_FAILED_REASON": "Success call" if connected else "Missed call", "CALL_VOTE": "0",
                    "COST": "0.0000", "COST_CURRENCY": "RUR", "CRM_ENTITY_TYPE": OWNER_TYPES.get(owner_type, ""),
                    "CRM_ENTITY_ID": str(owner_id), "CRM_ACTIVITY_ID": activity_id}
            self.call_stats.append(stat)
            self._emit("ONVOXIMPLANTCALLEND", {k: stat[k] for k in (
                "CALL_ID", "CALL_TYPE", "PORTAL_USER_ID", "CALL_DURATION", "CALL_START_DATE", "CALL_FAILED_CODE",
                "CRM_ACTIVITY_ID")})
            if comment is not None:
                self.add_comment(OWNER_TYPES[owner_type].lower(), owner_id, comment, author_id=user,
                                 created=end + timedelta(minutes=1))
        return activity_id

    # ---- outgoing webhook -------------------------------------------------------------------------------

    def _emit(self, name: str, data: dict) -> None:
        with self._cond:
            event = {"event": name, "data": data, "ts": int(time.time())}
            self.events.append(event)
            if self._subscriber is not None:
                self._pending.append(event)
                self._cond.notify_all()

    def subscribe(self, url: str, *, comment_shape: str = "fields") -> None:
        """From now on every event is POSTed to `url` by a background thread. Comment events carry
        ``data[FIELDS][ID]`` (server code) or, with ``comment_shape="id"``, ``data[ID]`` (the docs)."""
        if comment_shape not in ("fields", "id"):
            raise ValueError("comment_shape is 'fields' or 'id'")
        with self._cond:
            self._subscriber, self._comment_shape = url, comment_shape
            if self._courier is None:
                self._courier = threading.Thread(target=self._courier_loop, daemon=True, name="fake-bitrix24-events")
                self._courier.start()

    def emit_faults(self, drop=0.0, repeat=0.0, reorder=False, seed=0) -> None:
        """Delivery by `subscribe` loses a share of events, sends a share twice, shuffles close neighbours.
        Reordering works on what is pending at once: pause, make the changes, resume."""
        with self._cond:
            self._drop, self._repeat, self._reorder, self._rng = drop, repeat, reorder, random.Random(seed)

    def pause_events(self) -> None:
        """Hold delivery (the receiver is down); held events go out on resume."""
        with self._cond:
            self._paused = True

    def resume_events(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def wait_events(self, timeout: float = 5.0) -> bool:
        """Block until every event so far has been handed to the subscriber; False when `timeout` passes first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._in_flight, timeout)

    def deliver(self, url, events=None, *, token=None, member_id=None, domain=None, as_json=False,
                comment_shape=None) -> list[int]:
        """POST `events` (default: all so far) to `url` now, without faults; the status of each (0: no answer).
        The overrides forge what a wrong portal or a wrong token would send."""
        with self._lock:
            events = list(self.events if events is None else events)
            shape = comment_shape or self._comment_shape
        forged = {"token": token, "member_id": member_id, "domain": domain}
        with httpx.Client(timeout=5.0) as client:
            return [self._post(client, url, self._envelope(event, shape, **forged), as_json) for event in events]

    def _courier_loop(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._closing or (self._pending and not self._paused))
                    if self._closing:
                        return
                    batch, self._pending = self._shaken(self._pending), []
                    url, shape, self._in_flight = self._subscriber, self._comment_shape, True
                for event in batch:
                    self._post(client, url, self._envelope(event, shape), False)
                with self._cond:
                    self._in_flight = False
                    self._cond.notify_all()

    def _shaken(self, events: list[dict]) -> list[dict]:
        events = list(events)
        if self._reorder:
            for i in range(0, len(events), REORDER_WINDOW):
                window = events[i:i + REORDER_WINDOW]
                self._rng.shuffle(window)
                events[i:i + REORDER_WINDOW] = window
        out = []
        for event in events:
            if self._rng.random() < self._drop:
                continue
            out.append(event)
            if self._rng.random() < self._repeat:
                out.append(event)
        return out

    def _envelope(self, event: dict, shape: str, *, token=None, member_id=None, domain=None) -> dict:
        """The body of one outgoing-webhook call, keys in Bitrix24's order."""
        domain = self.domain if domain is None else domain
        data = event["data"]
        if shape == "id" and event["event"].startswith("ONCRMTIMELINECOMMENT"):
            data = {"ID": data["FIELDS"]["ID"]}
        return {"event": event["event"], "event_handler_id": "1", "data": data, "ts": str(event["ts"]),
                "auth": {"domain": domain, "client_endpoint": f"https://{domain}/rest/",
                         "server_endpoint": OAUTH_SERVER,
                         "member_id": self.member_id if member_id is None else member_id,
                         "application_token": self.application_token if token is None else token}}

    @staticmethod
    def _post(client: httpx.Client, url: str, body: dict, as_json: bool) -> int:
        """One delivery attempt; failures are swallowed because Bitrix24 never retries either."""
        try:
            if as_json:
                return client.post(url, json=body).status_code
            form = urlencode(flatten(body))  # brackets percent-encoded, as PHP's http_build_query does
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            return client.post(url, content=form, headers=headers).status_code
        except httpx.HTTPError:
            return 0


def seed_demo(portal: FakePortal) -> str:
    """A manager, a client and two correct deals: one with a connected call and an expanded comment on it,
    one with a missed call noted «НД». Returns the first deal's ID."""
    portal.add_user(portal.webhook_user_id, "Integration", "Robot")
    manager = portal.add_user("7", "Anna", "Smirnova")
    client = portal.add_contact(NAME="Ivan", LAST_NAME="Petrov", PHONE=["+79161234567"])
    created = portal._now() - timedelta(days=90)
    deals = []
    for title in ("20 office chairs", "Meeting room tables"):
        deal = portal.add_deal(TITLE=title, STAGE_ID="PREPARATION", OPPORTUNITY="150000.00", CURRENCY_ID="RUB",
                               ASSIGNED_BY_ID=manager, LEAD_ID="201", UF_CRM_PRODUCT_GROUP="45", DATE_CREATE=created)
        portal.set_deal_contacts(deal, [client])
        portal.set_product_rows(deal, [{"PRODUCT_NAME": "Office chair", "PRICE": 7500, "QUANTITY": 20}])
        deals.append(deal)
    portal.log_call(deals[0], user_id=manager, at=portal._now() - timedelta(hours=2), duration=340,
                    comment="Берут 20 кресел Chairman, цена 7 500 устроила, скидка 5% за объём, счёт выставлю сегодня, "
                            "созвон в пятницу в 11:00.")
    portal.log_call(deals[1], user_id=manager, at=portal._now() - timedelta(hours=1), connected=False, comment="НД")
    return deals[0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="A fake Bitrix24 portal to try the integration by hand.")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--events-to", help="the URL that receives the outgoing-webhook events")
    parser.add_argument("--env-file", help="also write the crmqc settings for this portal to this file, "
                                           "as `export` lines for the shell's `.`")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a script's kill stops it as cleanly as Ctrl-C
    portal = FakePortal().start(port=args.port)
    if args.events_to:
        portal.subscribe(args.events_to)
    deal = seed_demo(portal)
    print(f"Fake Bitrix24 portal on https://{portal.domain}")
    print(f"  webhook URL:        {portal.webhook_url}")
    print(f"  CA file:            {portal.ca_file}  (REQUESTS_CA_BUNDLE)")
    print(f"  domain:             {portal.domain}")
    print(f"  member_id:          {portal.member_id}")
    print(f"  application token:  {portal.application_token}")
    print(f"  events to:          {args.events_to or '(none: pass --events-to)'}")
    if args.env_file:
        Path(args.env_file).parent.mkdir(parents=True, exist_ok=True)
        Path(args.env_file).write_text(
            f"export CRMQC_B24_WEBHOOK_URL={portal.webhook_url}\n"
            f"export CRMQC_B24_APPLICATION_TOKEN={portal.application_token}\n"
            f"export CRMQC_B24_MEMBER_ID={portal.member_id}\n"
            f"export CRMQC_B24_CA_BUNDLE={portal.ca_file}\n", encoding="utf-8")
        print(f"  settings written to {args.env_file}")
    print(f"Demo deals {deal} and {int(deal) + 1} seeded. Ctrl-C stops.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
