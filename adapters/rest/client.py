"""One agency records API over httpx: a page per call, with bounded retries.

Retried, with exponential backoff and jitter: HTTP 5xx, timeouts, connection
errors and bodies that are not a records page. HTTP 429 waits what its
``Retry-After`` asks (at least), then retries. Any other answer (401, 404, …)
is the configuration's fault and is not retried. Every attempt counts against the
source's ``max_attempts``; when they are used up the page is given up with
:class:`SourceUnavailable` and the checkpoint stays where it was.

Logs name the source, the URL, the answer and the next step; never a body (it
holds raw ID numbers) and never the token. Every answer is counted by status class
(``error``: none, e.g. a timeout) and every attempt after the first as a retry.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.rest.config import SourceConfig
from jiandu.core.jsoninput import JsonInputError, parse_json
from jiandu.errors import JianduError
from jiandu.observability.labels import source_label, status_class
from jiandu.observability.metrics.adapters import ADAPTER_RETRIES, AGENCY_API_RESPONSES

__all__ = [
    "ADAPTER",
    "AgencyClient",
    "AgencyPage",
    "PollStopped",
    "SourceRefused",
    "SourceUnavailable",
    "backoff_delay",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)

#: The adapter label of the REST poller's series (and the intake's adapter name in ``jiandu rest-pull``).
ADAPTER = "rest-pull"


class SourceUnavailable(JianduError):
    """An agency API gave no usable page within the allowed attempts, or refused the request."""


class SourceRefused(SourceUnavailable):
    """The agency answered with a client error (4xx other than 429): retrying the same request cannot help."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class PollStopped(Exception):
    """The poller was asked to stop while it waited; nothing is wrong."""


@dataclass(frozen=True, slots=True)
class AgencyPage:
    """One page as the agency sent it: records not yet validated (the intake does that)."""

    records: list[Any]
    next_page_token: str | None
    cursor: str | None
    attempts: int


class _Retry(Exception):
    """An attempt failed in a way worth another try."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait  # seconds the agency asked for (Retry-After), else None: backoff


class AgencyClient:
    """Fetches pages of one source; share nothing between sources (one client each)."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        stop: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._stop = stop or threading.Event()
        self._rng = rng or random.Random()
        headers = {config.auth_header: config.auth_token} if config.auth_token else {}
        self._http = httpx.Client(
            timeout=config.timeout_seconds, headers=headers, transport=transport, follow_redirects=False
        )
        self.source_label = source_label(config.source)
        self._retries = ADAPTER_RETRIES.labels(ADAPTER, self.source_label)
        for status in ("2xx", "3xx", "4xx", "5xx", "error"):  # at 0 from the start: rate() sees the first answers
            AGENCY_API_RESPONSES.labels(self.source_label, status)

    def fetch(self, *, since: str | None, page_token: str | None) -> AgencyPage:
        """The page at ``page_token`` (else ``since``); retries as the module says."""
        params = {"limit": str(self.config.page_size)}
        if page_token:
            params["page_token"] = page_token
        elif since:
            params["since"] = since
        where = f"{self.config.url}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
        last = "no attempt"
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                return self._attempt(params, attempt)
            except _Retry as retry:
                last = retry.reason
                if attempt == self.config.max_attempts:
                    break
                self._wait_before_retry(where, retry, attempt)
        raise SourceUnavailable(
            f"source {self.config.source}: no usable page from {where} after {self.config.max_attempts} "
            f"attempts (last: {last}); its checkpoint stays where it was and the next poll tries again"
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def _attempt(self, params: dict[str, str], attempt: int) -> AgencyPage:
        answered = False
        try:
            with self._http.stream("GET", self.config.url, params=params) as response:
                status = response.status_code
                self._answered(status)
                answered = True
                self._check_status(response)
                body = _read_capped(response, MAX_PAGE_BYTES)
        except httpx.TimeoutException:
            if not answered:
                self._answered(None)
            raise _Retry(f"timed out after {self.config.timeout_seconds:g} s") from None
        except httpx.TransportError as exc:
            if not answered:
                self._answered(None)
            raise _Retry(f"connection failed ({type(exc).__name__})") from None
        return _page(body, attempt)

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == httpx.codes.TOO_MANY_REQUESTS:
            raise _Retry("HTTP 429 rate limited", retry_after_seconds(response.headers.get("Retry-After")))
        if status >= 500:
            raise _Retry(f"HTTP {status} {response.reason_phrase}")
        if status != httpx.codes.OK:
            raise SourceRefused(
                f"source {self.config.source}: {self.config.url} answered HTTP {status} {response.reason_phrase}; "
                "not retried: check the source's base_url, path and auth in the sources file",
                status,
            )

    def _answered(self, status: int | None) -> None:
        AGENCY_API_RESPONSES.labels(self.source_label, status_class(status)).inc()

    def _wait_before_retry(self, where: str, retry: _Retry, attempt: int) -> None:
        self._retries.inc()
        of = f"attempt {attempt} of {self.config.max_attempts}"
        if retry.wait is not None:
            delay = retry.wait + self._rng.uniform(0, min(1.0, 0.1 * retry.wait))
            log.warning(
                "rest %s: GET %s: %s (%s); waiting %.2f s as Retry-After asks",
                self.config.source,
                where,
                retry.reason,
                of,
                delay,
            )
        else:
            delay = backoff_delay(attempt, self.config.backoff_seconds, self.config.backoff_max_seconds, self._rng)
            log.warning(
                "rest %s: GET %s: %s (%s); retrying in %.2f s",
                self.config.source,
                where,
                retry.reason,
                of,
                delay,
            )
        if self._stop.wait(delay):
            raise PollStopped


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Pause after failed attempt ``attempt`` (1-based): ``min(cap, base·2^(attempt-1))``, jittered to 50–100 %.

    The jitter spreads pollers that failed together; the floor of 50 % keeps the
    pause growing, so a struggling agency gets real relief.
    """
    return min(cap, base * 2 ** (attempt - 1)) * rng.uniform(0.5, 1.0)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_PAGE_DEPTH = 1024
#: The largest page body read: a hostile or broken agency API cannot make the poller hold gigabytes.
MAX_PAGE_BYTES = 64 << 20


def _read_capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Retry(f"page of {declared} bytes: more than {limit}; lower page_size for this source")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise _Retry(f"page larger than {limit} bytes; lower page_size for this source")
        chunks.append(chunk)
    return b"".join(chunks)


def _page(body: bytes, attempt: int) -> AgencyPage:
    """Check the shape of a records page; a broken one is worth a retry (proxies and gateways garble bodies)."""
    try:
        # a page is checked only against the parser's own limit: one record nested too deeply is that
        # record's problem (the poller dead-letters it), not a reason to refuse the page and stall the feed
        value = parse_json(body, max_depth=_PAGE_DEPTH)
    except JsonInputError as exc:
        raise _Retry(f"body is not JSON ({len(body)} bytes): {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("records"), list):
        raise _Retry("body is not a records page (no `records` list)")
    token, cursor = value.get("next_page_token"), value.get("cursor")
    if not isinstance(token, str | None) or not isinstance(cursor, str | None):
        raise _Retry("body has a `next_page_token` or `cursor` that is not a string")
    if token is None and cursor is None:
        raise _Retry("last page without a `cursor`: the next poll would not know where to start")
    return AgencyPage(value["records"], token or None, cursor, attempt)
