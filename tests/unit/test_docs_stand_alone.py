"""The docs stand alone: nothing points outside the repository, and every link resolves.

A newcomer reads README → docs/architecture.md → docs/glossary.md without any other file:
no reference to the documents the project was built from, every relative link in the docs
lands on a file (and a heading, when it names one), every module is named in the
architecture's module map, and every contract suite in conventions.md's table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.simulator import spec_examples

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "pims_sync"

# References to the documents outside the repository the project was built from. Written
# so that this file does not match them itself.
OUTSIDE = re.compile(
    "|".join(
        (
            "\u00a7",  # section signs of those documents
            r"\bspec[/]",
            r"idexx-neo[.]md",
            r"[.][.]/shared",
            r"/work/shared",
            r"\bthe spec\b",
            r"\bspec's\b",
            r"original-service[.]md",
            r"GETTING_STARTED",
        )
    ),
    re.IGNORECASE,
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# `docs/<name>.md#anchor` or `README.md#anchor` as comments in code name them.
DOC_MENTION = re.compile(r"\b((?:docs/[\w-]+\.md|README\.md))(#[\w-]+)?")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _project_text_files() -> Iterator[Path]:
    yield ROOT / "README.md"
    yield from sorted(DOCS.rglob("*.md"))
    yield from sorted(PACKAGE.rglob("*.py"))


def _outside_references(path: Path) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(_read(path).splitlines(), 1)
        if OUTSIDE.search(line)
    ]


def test_nothing_refers_to_documents_outside_the_repository() -> None:
    found = [hit for path in _project_text_files() for hit in _outside_references(path)]

    assert found == [], "write what the reader needs in docs/ and link it:\n" + "\n".join(found)


def test_the_outside_pattern_catches_what_it_is_for() -> None:
    # Pieced together, so that a grep for these references finds nothing in this file either.
    caught = (
        "see spec \u00a76.2",
        "as spec" + "/service.md says",
        "the spec asks",
        "idexx-neo" + ".md",
    )
    for text in caught:
        assert OUTSIDE.search(text), text
    for text in ("docs/pipeline.md#inbound", "a fault spec", "specs = on(phase)", "speculative"):
        assert not OUTSIDE.search(text), text


# --- links -------------------------------------------------------------------------------


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading: str) -> str:
    """The anchor a heading gets, as GitHub makes it."""
    text = heading.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, …)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in _prose_lines(_read(path)):
        match = HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def _broken(source: Path, target: str) -> str | None:
    """Why a relative link from `source` does not resolve; None when it does."""
    file_part, _, anchor = target.partition("#")
    path = (source.parent / file_part).resolve() if file_part else source
    if not path.exists():
        return f"no file {file_part}"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"no heading #{anchor} in {path.relative_to(ROOT)}"
    return None


def _links(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in _prose_lines(_read(path)):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, …
                yield number, target


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: p.name)
def test_every_relative_link_resolves(path: Path) -> None:
    broken = [
        f"{path.relative_to(ROOT)}:{number}: ({target}) {why}"
        for number, target in _links(path)
        if (why := _broken(path, target)) is not None
    ]

    assert broken == [], "\n".join(broken)


def test_the_link_check_sees_links_and_anchors() -> None:
    readme = ROOT / "README.md"
    assert ("docs/architecture.md", "") in {(t, "") for _, t in _links(readme)}
    assert _broken(readme, "docs/architecture.md#layers") is None
    assert _broken(readme, "docs/architecture.md#no-such-heading") is not None
    assert _broken(readme, "docs/no-such-file.md") is not None
    assert slug("3. Schedules: minimum interval and the daily PIMS budget") == (
        "3-schedules-minimum-interval-and-the-daily-pims-budget"
    )
    assert slug("### `adapters/sql/`".lstrip("# ")) == "adapterssql"


def test_docs_named_in_code_and_tests_exist_with_their_headings() -> None:
    this = Path(__file__).resolve()
    sources = [*sorted(PACKAGE.rglob("*.py")), *sorted((ROOT / "tests").rglob("*.py"))]
    sources = [s for s in sources if s.resolve() != this]  # its examples are broken on purpose
    broken = [
        f"{source.relative_to(ROOT)}: {name}{anchor or ''} {why}"
        for source in sources
        for name, anchor in DOC_MENTION.findall(_read(source))
        if (why := _broken(ROOT / "README.md", name + (anchor or ""))) is not None
    ]

    assert broken == [], "\n".join(broken)


# --- every module and every contract suite named -----------------------------------------


def _sections(path: Path) -> dict[str, str]:
    """`### \\`package/\\`` sections of a Markdown file: package → its text."""
    sections: dict[str, str] = {}
    current: str | None = None
    for _, line in _prose_lines(_read(path)):
        match = HEADING.match(line)
        if match is not None:
            named = re.fullmatch(r"`([\w/]+/)`", match.group(2).strip())
            current = named.group(1) if len(match.group(1)) == 3 and named else None
            if current is not None:
                sections[current] = ""
            continue
        if current is not None:
            sections[current] += line + "\n"
    return sections


def _package_of(module: Path) -> str:
    relative = module.parent.relative_to(PACKAGE)
    return "pims_sync/" if relative == Path() else f"{relative.as_posix()}/"


def test_every_module_is_named_in_the_architecture() -> None:
    sections = _sections(DOCS / "architecture.md")
    missing = [
        f"{_package_of(module)}{module.name}"
        for module in sorted(PACKAGE.rglob("*.py"))
        if module.name != "__init__.py"
        and f"`{module.name}`" not in sections.get(_package_of(module), "")
    ]

    assert missing == [], (
        "name these modules under their package's heading in docs/architecture.md "
        "(### `package/`):\n" + "\n".join(missing)
    )


def test_every_contract_suite_is_in_the_conventions_table() -> None:
    conventions = _read(DOCS / "conventions.md")
    suites = sorted((ROOT / "tests" / "contract").glob("test_*.py"))

    assert suites
    assert [s.name for s in suites if f"tests/contract/{s.name}" not in conventions] == []


# --- the IDEXX examples --------------------------------------------------------------------


def _json_examples(path: Path) -> list[object]:
    blocks = re.findall(r"```json\n(.*?)\n```", _read(path), re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_the_shapes_the_simulator_is_held_to_are_the_documented_ones() -> None:
    calendar, page_data, search, appointment, view = _json_examples(DOCS / "idexx.md")
    assert isinstance(calendar, list)
    assert isinstance(page_data, dict)
    assert isinstance(search, dict)
    assert isinstance(appointment, dict)
    assert isinstance(view, dict)
    pairs = [
        (spec_examples.CALENDAR_APPOINTMENT, calendar[0]),
        (spec_examples.CALENDAR_BLOCK, calendar[1]),
        # The first invoice line is the complete one (the others leave optional fields out).
        (
            spec_examples.PAGE_DATA,
            page_data | {"consultationLines": page_data["consultationLines"][:1]},
        ),
        (spec_examples.SEARCH_PATIENT, search["results"]["suggested"]["objects"][0]),
        (spec_examples.GET_APPOINTMENT, appointment["appointment"]),
    ]

    for checked, documented in pairs:
        assert spec_examples.same_shape(checked, documented) == []
    assert set(view) == spec_examples.APPOINTMENT_VIEW_KEYS


GLOSSARY_TERMS = (
    "audit row",
    "session cache",
    "heartbeat",
    "stale run",
    "abandoned run",
    "guard",
    "dry run",
    "claim",
    "provider",
    "profile",
    "trait",
    "stay",
    "not-ready consultation",
    "request budget",
    "doctor",
    "shape report",
    "egress proxy",
)


def test_the_glossary_defines_the_words_the_code_uses() -> None:
    glossary = _read(DOCS / "glossary.md")

    assert [term for term in GLOSSARY_TERMS if f"**{term}**" not in glossary] == []
