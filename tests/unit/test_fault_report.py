"""The fault matrix report: rows dumped by parallel workers merge into one document."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.report import FaultReport, FaultRow


def row(fault: str, phase: str, observed: str = "200 completed") -> FaultRow:
    return FaultRow(fault, phase, "200 completed", observed, 0, 0, 0, "completed")


def test_rows_and_notes_of_workers_merge_into_one_report(tmp_path: Path) -> None:
    first, second, merged = FaultReport(), FaultReport(), FaultReport()
    first.record(row("latency spikes", "full"))
    first.describe("latency spikes", "0.7 s late")
    second.record(row("500 burst", "inbound", observed="502 pims_unavailable"))
    second.describe("500 burst", "two 500s")
    merged.record(row("latency spikes", "inbound"))

    first.dump(tmp_path / "gw0.json")
    second.dump(tmp_path / "gw1.json")
    for dumped in sorted(tmp_path.glob("*.json")):
        merged.merge(dumped)

    assert sorted((r.fault, r.phase) for r in merged.rows) == [
        ("500 burst", "inbound"),
        ("latency spikes", "full"),
        ("latency spikes", "inbound"),
    ]
    assert merged.notes == {"latency spikes": "0.7 s late", "500 burst": "two 500s"}
    text = merged.render()
    assert "2 of 3 cells pass." in text
    assert "| 500 burst | inbound | sqlite |" in text
    assert "**FAIL**" in text
