"""Creating silences through Alertmanager's API v2.

https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 10.0


class SilenceError(Exception):
    """Raised when Alertmanager could not be reached or did not create the silence."""


class _Poster(Protocol):
    def post(self, url: str, *, json: Any, timeout: float) -> requests.Response: ...


def create_silence(
    alertmanager_url: str,
    matchers: dict[str, str],
    *,
    duration: timedelta,
    created_by: str,
    comment: str,
    now: datetime,
    session: _Poster | None = None,
) -> str:
    """Silence alerts whose labels equal all `matchers`; returns the silence id."""
    if not matchers:
        raise SilenceError("a silence needs at least one matcher")
    if duration <= timedelta(0):
        raise SilenceError("a silence needs a positive duration")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    url = alertmanager_url.rstrip("/") + "/api/v2/silences"
    body = {
        "matchers": [
            {"name": name, "value": value, "isRegex": False, "isEqual": True}
            for name, value in sorted(matchers.items())
        ],
        "startsAt": _rfc3339(now),
        "endsAt": _rfc3339(now + duration),
        "createdBy": created_by,
        "comment": comment,
    }
    where = _without_credentials(url)

    poster = session if session is not None else requests
    try:
        response = poster.post(url, json=body, timeout=REQUEST_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise SilenceError(
            f"could not reach Alertmanager at {where}: {type(error).__name__}"
        ) from None
    if not 200 <= response.status_code < 300:
        raise SilenceError(
            f"Alertmanager at {where} refused the silence: HTTP {response.status_code}"
        )

    try:
        silence_id = response.json()["silenceID"]
    except (ValueError, KeyError, TypeError):
        raise SilenceError(
            f"Alertmanager at {where} answered HTTP {response.status_code} "
            "without a silence id"
        ) from None
    log.info(
        "silence created", extra={"silence_id": silence_id, "created_by": created_by}
    )
    return str(silence_id)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _without_credentials(url: str) -> str:
    """The URL with any `user:password@` and query removed, fit for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
