"""What an ingestion run reports: counts plus every rejected row with its field and reason."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str
    reason: str
    source_id: str | None = None


@dataclass
class IngestReport:
    accepted: int = 0  # new records stored
    updated: int = 0  # newer content for a record we had
    unchanged: int = 0  # replays, and older versions that must not overwrite newer ones
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    # How many rejections to keep in memory; the rest go straight to the rejects file.
    keep_rejections: int = 1000

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.rejections) < self.keep_rejections:
            self.rejections.append(rejection)

    def add(self, other: IngestReport) -> None:
        self.accepted += other.accepted
        self.updated += other.updated
        self.unchanged += other.unchanged
        for r in other.rejections:
            self.reject(r)
        self.rejected += other.rejected - len(other.rejections)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "updated": self.updated,
                "unchanged": self.unchanged, "rejected": self.rejected}


_UNION_TAGS = {"person", "case", "case_note"}


def rejections_from_validation(line: int, exc: ValidationError,
                               source_id: str | None = None) -> list[Rejection]:
    """One rejection per pydantic error, naming the field path and the reason."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        parts = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
        if parts and parts[0] in _UNION_TAGS:
            parts = parts[1:]  # a discriminated union puts the record_type first
        loc = ".".join(parts)
        msg = str(err["msg"]).removeprefix("Value error, ")
        # Model-level validators put "field: reason" in the message; lift the field out.
        if err["type"] == "union_tag_invalid":
            loc = "record_type"
        elif not loc and err["type"] == "value_error" and ": " in msg:
            loc, msg = msg.split(": ", 1)
        out.append(Rejection(line=line, field=loc or "record", reason=msg, source_id=source_id))
    return out


class RejectsWriter:
    """Streams rejections to a CSV file so a million bad rows never sit in memory."""

    HEADER = ("line", "source_id", "field", "reason")

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fh: TextIO | None = None
        self._writer: Any = None

    def write(self, rejection: Rejection) -> None:
        if self.path is None:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._fh)
            self._writer.writerow(self.HEADER)
        self._writer.writerow((rejection.line, rejection.source_id or "", rejection.field,
                               rejection.reason))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
