"""Each worker's spool folder, and records the database refused, gathered where `majordomo records` looks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from majordomo_otel.gateway.record import RequestRecord, new_request_id
from majordomo_otel.gateway.spool_slots import collect_rejected, slot_dir
from majordomo_otel.gateway.store._rejected import read_rejected
from majordomo_otel.gateway.store._spool import Spool


def _record() -> RequestRecord:
    return RequestRecord(new_request_id(), "openai", "/v1/chat/completions", "POST", datetime.now(UTC))


def test_worker_1_uses_the_single_gateways_spool_and_the_others_a_folder_inside_it(tmp_path: Path) -> None:
    assert [slot_dir(tmp_path, slot) for slot in (1, 2, 3)] == [tmp_path, tmp_path / "worker-2", tmp_path / "worker-3"]


def test_records_refused_in_any_workers_folder_are_gathered_for_majordomo_records(tmp_path: Path) -> None:
    refused = {slot: _record() for slot in (1, 2, 3)}
    for slot, record in refused.items():
        Spool(slot_dir(tmp_path, slot), fsync=False).reject([record], f"refused in worker {slot}")
    assert collect_rejected(tmp_path, workers=3) == 2
    assert sorted((e.record.id if e.record else None, e.error) for e in read_rejected(tmp_path)) == sorted(
        (record.id, f"refused in worker {slot}") for slot, record in refused.items()
    )
    assert [read_rejected(slot_dir(tmp_path, slot)) for slot in (2, 3)] == [[], []]
