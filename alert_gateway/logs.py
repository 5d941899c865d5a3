"""Operation logs of the gateway, as text or JSON lines, with snake_case context.

Context travels in `extra=` (`logger.info("posted", extra={"group_key": k})`)
and is printed as `key=value` after the message, or as keys of the JSON object.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

# Group keys hold every label of a group's route and can run to kilobytes;
# a log line shows the start of one and a hash that tells two such keys apart.
GROUP_KEY_LOG_CHARS = 80

# Attributes every LogRecord has; anything else on a record came from `extra=`,
# except uvicorn's copy of its message with terminal colours.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def context(record: logging.LogRecord) -> dict[str, Any]:
    """The key=value context a record was logged with, group keys shortened."""
    found = {k: v for k, v in vars(record).items() if k not in _STANDARD}
    if isinstance(found.get("group_key"), str):
        found["group_key"] = short_group_key(found["group_key"])
    return found


def short_group_key(group_key: str) -> str:
    """A group key as logged: whole when short, else its start and a short hash."""
    if len(group_key) <= GROUP_KEY_LOG_CHARS:
        return group_key
    digest = hashlib.sha256(group_key.encode()).hexdigest()[:12]
    return f"{group_key[:GROUP_KEY_LOG_CHARS]}...sha256:{digest}"


class TextFormatter(logging.Formatter):
    """`2026-01-05T09:00:00.123Z INFO alert_gateway.delivery posted group_key=...`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        parts = [stamp.replace("+00:00", "Z"), record.levelname, record.name]
        parts.append(record.getMessage())
        parts += [f"{key}={_text(value)}" for key, value in context(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the context keys."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        entry: dict[str, Any] = {
            "time": stamp.replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(context(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(log_format: LogFormat = "text", level: int = logging.INFO) -> None:
    """Send the gateway's logs (and uvicorn's) to stderr in `log_format`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # One line per webhook would drown the lines that say what happened to a group.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def _text(value: Any) -> str:
    text = str(value)
    if text == "" or any(ch in text for ch in ' "=\n'):
        return json.dumps(text, ensure_ascii=False)
    return text
