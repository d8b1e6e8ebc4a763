""".env.example and the README's table: every setting has a line, every line is a setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from pims_sync.errors import ConfigError
from pims_sync.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
# `NAME=value`, or `# NAME=value` for a line shown commented out.
LINE = re.compile(r"^(?P<commented>#\s?)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
# The original's settings, shown commented out to say what replaces them.
RETIRED = {"SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"}


def names_of(field: str) -> list[str]:
    """A setting's environment names, the main one first, then its aliases."""
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices), field
    return [str(choice) for choice in alias.choices]


FIELD_BY_NAME = {name: field for field in Settings.model_fields for name in names_of(field)}
MAIN_NAMES = {names_of(field)[0]: field for field in Settings.model_fields}


def example_lines() -> list[tuple[str, str, bool]]:
    """(name, value, commented out) for every variable line of .env.example."""
    found = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        if match:
            found.append((match["name"], match["value"], bool(match["commented"])))
    return found


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [*FIELD_BY_NAME, *RETIRED]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_every_variable_of_the_example_is_a_setting() -> None:
    names = [name for name, _, _ in example_lines()]
    assert len(names) == len(set(names)), "a variable has two lines"
    unknown = set(names) - set(FIELD_BY_NAME) - RETIRED
    assert not unknown, f"not settings: {sorted(unknown)}"
    assert all(commented for name, _, commented in example_lines() if name in RETIRED)


def test_every_setting_has_a_line() -> None:
    names = {name for name, _, _ in example_lines()}
    missing = set(MAIN_NAMES) - names
    assert not missing, f"settings without a line in .env.example: {sorted(missing)}"


def test_the_example_loads_as_the_defaults() -> None:
    from_example = load_settings(_env_file=EXAMPLE)
    assert from_example.model_dump() == load_settings(_env_file=None).model_dump()
    assert from_example.model_fields_set >= {
        MAIN_NAMES[name] for name, _, commented in example_lines() if not commented
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [(n, v) for n, v, _ in example_lines() if n not in RETIRED],
)
def test_each_line_shows_the_default(name: str, value: str) -> None:
    field = FIELD_BY_NAME[name]
    default = Settings.model_fields[field].default
    if not value:
        assert default is None, f"{name} has a default: show it"
        return
    assert getattr(load_settings(_env_file=None, **{name: value}), field) == default


def test_uncommented_supabase_lines_point_to_database_url(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for name in RETIRED:
        text = text.replace(f"# {name}=", f"{name}=")
    uncommented = tmp_path / "supabase.env"
    uncommented.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="set DATABASE_URL to the project's Postgres"):
        load_settings(_env_file=uncommented)


def test_the_readme_table_names_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in MAIN_NAMES if f"`{name}`" not in section]
    assert not missing, f"settings missing from the README's configuration table: {missing}"
    assert "`.env.example`" in section
