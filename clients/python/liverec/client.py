"""The liverec HTTP client: events in, recommendations and similar items out.

Every method sends one request and returns the decoded JSON answer as the spec describes it
(api/openapi.yaml). A request refused with 429 (the ingest queue is full) or 503 (starting or
shutting down) is sent again after the server's Retry-After, up to ``max_retries`` times;
any other error raises LiverecError with the server's status, code and message (which names
the offending field).

Thread safety: a Client holds no connection between calls; one may be shared by threads.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

JsonObject = dict[str, Any]
ParamValue = Union[str, int, float, bool, Sequence[str]]

# Seconds waited when a 429/503 answer carries no usable Retry-After.
_DEFAULT_RETRY_AFTER_S = 1.0
# The longest Retry-After honoured, so that a wrong header cannot stall a caller for hours.
_MAX_RETRY_AFTER_S = 60.0


class LiverecError(Exception):
    """An error answer: ``status`` (HTTP), ``code`` ("invalid_argument", ...), ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Client:
    """A liverec server at ``url`` ("http://127.0.0.1:8080").

    ``key``, when given, is sent as ``Authorization: Bearer <key>``. ``timeout_s`` bounds
    each request. ``sleep`` is how retries wait (``time.sleep``; tests may pass their own).
    """

    def __init__(
        self,
        url: str,
        key: Optional[str] = None,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._sleep = sleep

    def events(self, events: Iterable[Mapping[str, Any]], wait: str = "durable") -> JsonObject:
        """POST /v1/events: the events as one batch; ``wait`` is "durable" or "learned".

        Returns the ingest result: accepted, duplicates, last_seq, rejected (each with the
        event's index, the field and the reason). A batch whose every event was rejected is
        returned too (HTTP 400 with an ingest result), not raised.
        """
        if wait not in ("durable", "learned"):
            raise ValueError(f"wait: expected 'durable' or 'learned', got {wait!r}")
        return self._request(
            "POST", "/v1/events", {"wait": wait}, body=list(events), ingest=True
        )

    def recommendations(self, user: str, k: int = 10, **params: ParamValue) -> JsonObject:
        """GET /v1/recommendations for ``user``: ``k`` items, best first.

        ``params`` are the other query parameters of the spec: model, offset, exclude and
        category (a list or a comma-separated string), exclude_seen, explain, diversity,
        category_cap, explore. None or an empty list leaves a parameter out.
        """
        query: dict[str, ParamValue] = {"user": user, "k": k}
        # None and empty lists mean "not given" (the server refuses an empty id).
        query.update({n: v for n, v in params.items() if v is not None and v != []})
        return self._request("GET", "/v1/recommendations", query)

    def similar(self, item: str, k: int = 10) -> JsonObject:
        """GET /v1/items/{item}/similar: the ``k`` items most similar to ``item``."""
        return self._request("GET", f"/v1/items/{_segment(item)}/similar", {"k": k})

    def put_item(self, item: str, **metadata: Any) -> JsonObject:
        """PUT /v1/items/{item}: replaces all of its metadata (categories, tags, text,
        properties, available)."""
        return self._request("PUT", f"/v1/items/{_segment(item)}", body=metadata)

    def user(self, user: str, limit: int = 20) -> JsonObject:
        """GET /v1/users/{user}: its recent events (newest first) and metadata."""
        return self._request("GET", f"/v1/users/{_segment(user)}", {"limit": limit})

    def delete_user(self, user: str) -> JsonObject:
        """DELETE /v1/users/{user} (admin): the user's data and influence go; answers the
        deletion ("pending"), whose progress ``deletion`` reads."""
        return self._request("DELETE", f"/v1/users/{_segment(user)}")

    def deletion(self, deletion: str, wait_ms: int = 0) -> JsonObject:
        """GET /v1/deletions/{deletion}: its state (pending, data_erased, complete, failed);
        with ``wait_ms``, waits up to that long for it to be complete."""
        return self._request("GET", f"/v1/deletions/{_segment(deletion)}", {"wait_ms": wait_ms})

    def stats(self) -> JsonObject:
        """GET /v1/stats."""
        return self._request("GET", "/v1/stats")

    def _request(
        self,
        method: str,
        path: str,
        query: Optional[Mapping[str, ParamValue]] = None,
        body: Any = None,
        ingest: bool = False,
    ) -> JsonObject:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({n: _param(v) for n, v in query.items()})
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        attempt = 0
        while True:
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                payload = error.read()
                if error.code in (429, 503) and attempt < self.max_retries:
                    attempt += 1
                    self._sleep(_retry_after_s(error.headers.get("Retry-After")))
                    continue
                answer = _decode(payload)
                if ingest and error.code == 400 and "accepted" in answer:
                    return answer
                err = answer.get("error", {})
                raise LiverecError(
                    error.code,
                    str(err.get("code", "unknown")),
                    str(err.get("message", payload.decode(errors="replace"))),
                ) from None


def _segment(key: str) -> str:
    return urllib.parse.quote(key, safe="")


def _param(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(value)
    return str(value)


def _retry_after_s(header: Optional[str]) -> float:
    try:
        seconds = float(header) if header is not None else _DEFAULT_RETRY_AFTER_S
    except ValueError:
        seconds = _DEFAULT_RETRY_AFTER_S
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def _decode(payload: bytes) -> JsonObject:
    try:
        answer = json.loads(payload)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
