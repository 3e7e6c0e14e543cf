"""A simulated agency system: a real HTTP server on 127.0.0.1 with the agency's records API.

API (JSON, UTF-8):

``GET /api/v1/records?since=<cursor or ISO 8601>&page_token=<t>&limit=<n>``
    ``{"records": [...], "next_page_token": "t…" | null, "cursor": "c…"}`` — records
    in upload order. ``page_token`` (from the previous page) wins over ``since``;
    ``since`` is a ``cursor`` from an earlier answer or an instant ("uploaded at or
    after", by ``recorded_at`` else ``occurred_at``). ``next_page_token`` is null on
    the last page of what is uploaded so far; ``cursor`` is where the next poll starts.
``GET /_faults`` / ``POST /_faults`` (JSON object of :class:`FaultPlan` values)
    what is pending / set some values; ``bad_id`` adds that many bad records at once,
    ``foreign_source`` that many records in another agency's name.
``GET /_stats``
    requests, pages and records served, records visible and in all.

With a token, ``/api/v1/records`` wants ``Authorization: Bearer <token>`` (else 401).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from adapters.agency_sim.faults import FaultPlan, Faults
from adapters.agency_sim.feed import AgencyFeed, FeedPage, FeedQueryError
from jiandu.core.identity import id_check_character

__all__ = ["RECORDS_PATH", "AgencySimulator", "ServedRequest", "bad_id_record", "foreign_source_record"]

log = logging.getLogger(__name__)

RECORDS_PATH = "/api/v1/records"
DEFAULT_LIMIT = 100
_MALFORMED_BODY = b'{"records": [{"type": "police.lodging", "source": <html>502 Bad Gateway</html>'
_FALLBACK_FIRST17 = "21010219850317241"


@dataclass(frozen=True, slots=True)
class ServedRequest:
    """One answered request, for tests and the ``/_stats`` endpoint."""

    at: float  # time.monotonic() just before the answer was sent
    path: str
    status: int
    fault: str | None
    records: int
    start: int | None  # feed position of the page's first record

    @property
    def is_page(self) -> bool:
        """A page of records was served (not a fault, an error or a control request)."""
        return self.path == RECORDS_PATH and self.status == HTTPStatus.OK and self.fault is None


class AgencySimulator:
    """The agency's API over one feed, with injectable faults; start() it, stop() it (or ``with``).

    ``on_page(pages_served)`` runs after each page of records is sent: tests use it
    to kill a poller in the middle of a page.
    """

    def __init__(
        self,
        feed: AgencyFeed,
        *,
        port: int = 0,
        faults: FaultPlan | None = None,
        latency: float = 0.0,
        token: str | None = None,
        on_page: Callable[[int], None] | None = None,
    ) -> None:
        self.feed = feed
        self.faults = Faults(faults)
        self.latency = latency
        self.on_page = on_page
        self._port = port
        self._token = token
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._served: list[ServedRequest] = []
        self._pages = 0
        self._bad_serial = 0
        self._foreign_serial = 0
        self._plant()

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._server is None:
            raise RuntimeError("the agency simulator is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:8701``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AgencySimulator:
        """Bind 127.0.0.1 and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", self._port), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        log.info("agency simulator on %s: %d of %d records visible", self.url, self.feed.visible(), self.feed.total)
        return self

    def stop(self) -> None:
        """Stop serving (requests sleeping in a timeout fault are woken). Idempotent."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AgencySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def served(self) -> list[ServedRequest]:
        """Every answered request so far, in order."""
        with self._lock:
            return list(self._served)

    def stats(self) -> dict[str, Any]:
        """Counts for ``GET /_stats``."""
        served = self.served()
        pages = [r for r in served if r.is_page]
        return {
            "requests": len(served),
            "pages": len(pages),
            "records_served": sum(r.records for r in pages),
            "visible": self.feed.visible(),
            "total": self.feed.total,
            "faults_applied": sum(1 for r in served if r.fault),
        }

    def set_faults(self, changes: Mapping[str, object]) -> FaultPlan:
        """What ``POST /_faults`` does; ValueError names a bad fault."""
        self.faults.update(changes)
        self._plant()
        return self.faults.snapshot()

    def _plant(self) -> None:
        """Add the bad-ID and foreign-source records the plan asks for, copied from a valid record."""
        bad, foreign = self.faults.take_bad_ids(), self.faults.take_foreign_sources()
        if not bad and not foreign:
            return
        records = self.feed.records()
        template = next((r for r in records if _valid_id(r.get("id_number"))), records[0] if records else {})
        for _ in range(bad):
            self._bad_serial += 1
            self.feed.insert(bad_id_record(template, self._bad_serial))
        for _ in range(foreign):
            self._foreign_serial += 1
            self.feed.insert(foreign_source_record(template, self._foreign_serial))

    def authorised(self, authorization: str | None) -> bool:
        """Whether a request's ``Authorization`` header opens the records API."""
        return not self._token or authorization == f"Bearer {self._token}"

    def _note(self, entry: ServedRequest) -> int:
        """Keep an answered request; returns how many pages of records were served so far."""
        with self._lock:
            self._served.append(entry)
            self._pages += entry.is_page
            return self._pages

    def pause(self, seconds: float) -> None:
        """Sleep in a request thread; cut short when the simulator stops."""
        if seconds > 0:
            self._stopping.wait(seconds)


def bad_id_record(template: Mapping[str, Any], serial: int) -> dict[str, Any]:
    """A copy of ``template`` whose ID number has a wrong check character (the intake must dead-letter it)."""
    record = dict(template) if template.get("id_number") else _lodging_like(template)
    number = str(record.get("id_number", ""))
    first17 = number[:17] if len(number) >= 17 and number[:17].isdigit() else _FALLBACK_FIRST17
    right = id_check_character(first17)
    record["id_number"] = first17 + "0123456789X"[("0123456789X".index(right) + 1) % 11]
    record["source_record_id"] = f"SIM-BAD-{serial:04d}"
    return record


def foreign_source_record(template: Mapping[str, Any], serial: int) -> dict[str, Any]:
    """A copy of ``template`` in another agency's name: the source of another category, same division and unit."""
    record = dict(template) if template.get("source") else _lodging_like(template)
    category, _, rest = str(record["source"]).partition(":")
    record["source"] = f"{'police' if category == 'court' else 'court'}:{rest or '210102'}"
    record["source_record_id"] = f"SIM-FOREIGN-{serial:04d}"
    return record


def _valid_id(number: object) -> bool:
    """An 18-character number with the right check character: copying its record changes only that."""
    return (
        isinstance(number, str)
        and len(number) == 18
        and number[:17].isdigit()
        and id_check_character(number[:17]) == number[17]
    )


def _lodging_like(template: Mapping[str, Any]) -> dict[str, Any]:
    source = template.get("source") if isinstance(template.get("source"), str) else "police:210102"
    return {
        "type": "police.lodging",
        "source": source,
        "source_record_id": "",
        "occurred_at": template.get("occurred_at", "2024-03-01T20:00:00+08:00"),
        "jurisdiction": template.get("jurisdiction", "210102"),
        "id_number": "",
        "city_code": "210102",
        "hotel_id": "H21010200001",
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("agency simulator: connection from %s ended abruptly", client_address)


def _handler_for(sim: AgencySimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(_AgencyHandler):
        simulator = sim

    return Handler


class _AgencyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    simulator: AgencySimulator

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == RECORDS_PATH:
            self._records(parse_qs(url.query))
        elif url.path == "/_faults":
            self._json(HTTPStatus.OK, self.simulator.faults.snapshot().as_dict())
        elif url.path == "/_stats":
            self._json(HTTPStatus.OK, self.simulator.stats())
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such resource {url.path}"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/_faults":
            self._json(HTTPStatus.NOT_FOUND, {"error": "POST only to /_faults"})
            return
        try:
            changes = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object of fault values")
            plan = self.simulator.set_faults(changes)
        except ValueError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, plan.as_dict())

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("agency simulator: " + format, *args)

    def _records(self, query: dict[str, list[str]]) -> None:
        sim = self.simulator
        if not sim.authorised(self.headers.get("Authorization")):
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
            return
        sim.pause(sim.latency)
        fault = sim.faults.take()
        if fault is not None:
            self._fault(*fault)
            return
        try:
            page = sim.feed.page(since=_one(query, "since"), page_token=_one(query, "page_token"), limit=_limit(query))
        except FeedQueryError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._page(page)

    def _page(self, page: FeedPage) -> None:
        body = json.dumps(page.body(), ensure_ascii=False).encode()
        # noted before the answer goes out: a client that has the answer finds it in the log
        pages = self.simulator._note(
            ServedRequest(time.monotonic(), RECORDS_PATH, HTTPStatus.OK, None, len(page.records), page.start)
        )
        if self._send(HTTPStatus.OK, body) and self.simulator.on_page is not None:
            self.simulator.on_page(pages)

    def _fault(self, kind: str, plan: FaultPlan) -> None:
        headers: dict[str, str] = {}
        if kind == "http_500":
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, b'{"error": "simulated internal error"}'
        elif kind == "rate_limit":
            status, body = HTTPStatus.TOO_MANY_REQUESTS, b'{"error": "slow down"}'
            headers["Retry-After"] = str(plan.retry_after)
        elif kind == "malformed":
            status, body = HTTPStatus.OK, _MALFORMED_BODY
        else:  # timeout: answer only after the client has given up
            self.simulator.pause(plan.timeout_seconds)
            status, body = HTTPStatus.SERVICE_UNAVAILABLE, b'{"error": "too late"}'
        self.simulator._note(ServedRequest(time.monotonic(), RECORDS_PATH, status, kind, 0, None))
        self._send(status, body, headers)

    def _json(self, status: HTTPStatus, value: object) -> None:
        self.simulator._note(ServedRequest(time.monotonic(), urlsplit(self.path).path, status, None, 0, None))
        self._send(status, json.dumps(value, ensure_ascii=False).encode())

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> bool:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client gave up (timeout fault) or was killed
            self.close_connection = True
            return False
        return True


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _limit(query: dict[str, list[str]]) -> int:
    raw = _one(query, "limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        return int(raw)
    except ValueError:
        raise FeedQueryError(f"limit {raw!r} is not a number") from None
