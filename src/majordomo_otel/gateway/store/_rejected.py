"""`rejected.jsonl`: records the store refused for good, shown and re-imported by `majordomo records`.

A line is `{"error": why, "record": {...}}` (a whole record, `record_to_dict`) or, for a spool line that
could not even be decoded, `{"error": why, "line": text}`. Re-importing cleans each record's text the
way the gateway does (`make_storable`) and inserts it alone, so one bad record cannot hold back the rest.

A running gateway may append to the file at any time, so an import first renames it aside
(`rejected.importing-<pid>.jsonl`; the gateway's next append starts a fresh file), works on that copy,
and appends what still fails back to `rejected.jsonl`. An import cut short leaves its copy, which the
next import picks up; inserts are idempotent, so nothing is written twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.storable import make_storable
from majordomo_otel.gateway.store._base import Store
from majordomo_otel.gateway.store._codec import record_from_dict, record_from_json
from majordomo_otel.gateway.store._spool import REJECTED_FILE

_IMPORTING = "rejected.importing-*.jsonl"


@dataclass(frozen=True, slots=True)
class Rejected:
    """One line of the file: the record if it could be read back, and why the store refused it."""

    error: str
    record: RequestRecord | None
    raw: str  # the line as stored, kept as is if it cannot be imported


@dataclass(frozen=True, slots=True)
class ImportResult:
    imported: int
    still_rejected: int


def rejected_files(spool_dir: Path) -> list[Path]:
    """`rejected.jsonl` and copies left by an import that was cut short."""
    return sorted(spool_dir.glob(_IMPORTING)) + [p for p in [spool_dir / REJECTED_FILE] if p.exists()]


def read_rejected(spool_dir: Path) -> list[Rejected]:
    return [entry for path in rejected_files(spool_dir) for entry in _read(path)]


def _read(path: Path) -> list[Rejected]:
    entries = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                entries.append(_parse(line.rstrip("\n")))
    return entries


def _parse(line: str) -> Rejected:
    try:
        entry: dict[str, Any] = json.loads(line)
        error = str(entry.get("error", "unknown"))
        if isinstance(entry.get("record"), dict):
            return Rejected(error, record_from_dict(entry["record"]), line)
        if isinstance(entry.get("line"), str):
            return Rejected(error, record_from_json(entry["line"]), line)
        return Rejected(error, None, line)
    except Exception as exc:  # unreadable: kept as it is, shown with why
        return Rejected(f"unreadable line ({type(exc).__name__})", None, line)


async def import_rejected(store: Store, spool_dir: Path) -> ImportResult:
    """Insert every readable rejected record (text cleaned); what still fails goes back to `rejected.jsonl`."""
    imported = kept = 0
    for path in _take_aside(spool_dir):
        leftovers: list[str] = []
        for entry in _read(path):
            if entry.record is None:
                leftovers.append(entry.raw)
                continue
            make_storable(entry.record)
            try:
                await store.write_batch([entry.record])
            except Exception as exc:
                failed = {**json.loads(entry.raw), "error": f"{entry.error}; re-import failed: {type(exc).__name__}"}
                leftovers.append(json.dumps(failed))
            else:
                imported += 1
        _put_back(spool_dir / REJECTED_FILE, leftovers)
        kept += len(leftovers)
        path.unlink()
    return ImportResult(imported, kept)


def _take_aside(spool_dir: Path) -> list[Path]:
    current = spool_dir / REJECTED_FILE
    if current.exists():
        os.replace(current, spool_dir / f"rejected.importing-{os.getpid()}.jsonl")
    return sorted(spool_dir.glob(_IMPORTING))


def _put_back(path: Path, lines: list[str]) -> None:
    if lines:
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())
