"""A batch is stored in a thread while the next is gathered (``schemas.ingest.service``).

What a file ingest reports and writes must be what storing each batch in turn gave: the same
counts, the rejects file in the same order, and on an error the batch being stored ends
(committed or not) with its rejects written.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import Engine

from schemas.ingest.service import ingest_file
from schemas.tables import PersonRecordRow
from tests.integration._ingest_support import HEADER, count, row, store_with_agency


@pytest.fixture
def engine(database_url: str) -> Engine:
    return store_with_agency(database_url, "EDU", "Education", "education")


def _extract(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "pupils.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _rejected_lines(path: Path) -> list[int]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [int(r["line"]) for r in csv.DictReader(fh)]


ROWS = (
    row(source_id="a"),                                     # line 2
    row(source_id="a", family_name="Other"),                # 3: the store rejects it
    row(source_id="b", date_of_birth="31/02/2016"),         # 4: rejected while parsing
    row(source_id="c"),                                     # 5
    row(source_id="d", gender="martian"),                   # 6: rejected while parsing
    row(source_id="e"),                                     # 7
    row(source_id="f"),                                     # 8
)


def test_rejects_are_written_in_the_order_of_a_store_that_waits(engine: Engine,
                                                               tmp_path: Path) -> None:
    # Batches of two: lines 2-3 are being stored while lines 4 to 7 are read. A sequential
    # store wrote line 3's rejection (found by the store) before reading line 4.
    rejects = tmp_path / "rejects.csv"
    report = ingest_file(engine, _extract(tmp_path, *ROWS), "EDU", "csv", rejects,
                         batch_size=2, workers=0)
    assert (report.accepted, report.rejected) == (4, 3)
    assert _rejected_lines(rejects) == [3, 4, 6]
    assert sorted(r.line for r in report.rejections) == [3, 4, 6]
    assert count(engine, PersonRecordRow) == 4


def test_an_error_while_reading_ends_the_batch_being_stored(engine: Engine,
                                                            tmp_path: Path) -> None:
    # The progress callback fails at line 5 (an interrupt, a broken terminal), while lines
    # 2-3 are being stored: they are committed, and line 3's and line 4's rejections are
    # written, as a sequential store would have left them.
    calls = 0

    def on_bytes(_: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("stopped")

    rejects = tmp_path / "rejects.csv"
    with pytest.raises(RuntimeError, match="stopped"):
        ingest_file(engine, _extract(tmp_path, *ROWS), "EDU", "csv", rejects, batch_size=2,
                    workers=0, on_bytes=on_bytes)
    assert _rejected_lines(rejects) == [3, 4]
    assert count(engine, PersonRecordRow) == 1  # "a"; its duplicate on line 3 was rejected
