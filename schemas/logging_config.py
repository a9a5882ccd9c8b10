"""Structured JSON logs. Application logs never carry names, dates of birth or identifiers:
log ids, counts and timings only."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)  # added, not replacing: test log capture keeps working
    root.setLevel(level)
    # Library chatter (request URLs can carry index names only, but keep them quiet anyway).
    for noisy in ("opensearch", "opensearchpy", "urllib3", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # opensearch-py's trace logger writes every request body (names, dates of birth) as a
    # curl command: never, whatever the level asked for.
    trace = logging.getLogger("opensearchpy.trace")
    trace.setLevel(logging.CRITICAL + 1)
    trace.propagate = False
