"""docs/api.md's table of error codes holds every code the program produces, with its status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pims_sync.adapters.sql.migrations.ensure
import pims_sync.api.app
import pims_sync.bootstrap  # noqa: F401 - with the line above: every error class is defined
from pims_sync.api.errors import CODE_BY_STATUS, status_for
from pims_sync.errors import PimsSyncError

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "pims_sync"
ROW = re.compile(r"^\| `(?P<code>[a-z_]+)` \| (?P<status>[^|]+?) \|", re.MULTILINE)
# A class's `code = "..."`; a run's `code="..."` or `"code": "..."`.
CLASS_CODE = re.compile(r'^\s+code = "([a-z_]+)"', re.MULTILINE)
RUN_CODE = re.compile(r'\bcode="([a-z_]+)"|"code": "([a-z_]+)"')
# `error_response(413, "payload_too_large", ...)`: answers made without an error class.
EDGE_CODE = re.compile(r'error_response\(\s*(\d{3}),\s*"([a-z_]+)"')
FALLBACK_CODE = re.compile(r'CODE_BY_STATUS\.get\([^,]+,\s*"([a-z_]+)"\)')


def documented() -> dict[str, str]:
    """code -> status cell of docs/api.md's "Every error code" table."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("## Every error code", 1)[1].split("\n## ", 1)[0]
    rows = ROW.findall(section)
    assert len(rows) == len({code for code, _ in rows}), "a code has two rows"
    return dict(rows)


def sources() -> str:
    files = sorted(p for p in SOURCE.rglob("*.py") if "simulator" not in p.parts)
    return "\n".join(p.read_text(encoding="utf-8") for p in files)


def error_classes() -> list[type[PimsSyncError]]:
    found: list[type[PimsSyncError]] = []
    pending: list[type[PimsSyncError]] = [PimsSyncError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


def produced_codes() -> set[str]:
    """Every code the program can put in an answer, an audit row or an event."""
    text = sources()
    codes = set(CLASS_CODE.findall(text)) | set(FALLBACK_CODE.findall(text))
    codes |= {a or b for a, b in RUN_CODE.findall(text)}
    codes |= {code for _, code in EDGE_CODE.findall(text)}
    codes |= set(CODE_BY_STATUS.values()) | {kind.code for kind in error_classes()}
    return codes


def test_every_code_has_a_row() -> None:
    missing = produced_codes() - set(documented())
    assert not missing, f"codes missing from docs/api.md's table: {sorted(missing)}"


def test_every_row_is_a_code_the_program_produces() -> None:
    stale = set(documented()) - produced_codes()
    assert not stale, f"docs/api.md lists codes nothing produces: {sorted(stale)}"


@pytest.mark.parametrize("kind", error_classes(), ids=lambda kind: kind.__name__)
def test_a_domain_errors_status_is_the_documented_one(kind: type[PimsSyncError]) -> None:
    assert documented()[kind.code] == str(status_for(kind()))


def test_the_edge_codes_have_their_documented_status() -> None:
    pairs = {(str(status), code) for status, code in CODE_BY_STATUS.items()}
    pairs |= set(EDGE_CODE.findall(sources()))
    table = documented()
    wrong = sorted((code, status, table[code]) for status, code in pairs if table[code] != status)
    assert not wrong, f"(code, status answered, status documented): {wrong}"
