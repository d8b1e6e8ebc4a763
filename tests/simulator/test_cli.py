"""`pims-sync simulator`: flags become the config, defaults and logins are printed."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from pims_sync.cli import simulator as command
from pims_sync.simulator import server
from pims_sync.simulator.config import SimulatorConfig


def root() -> typer.Typer:
    app = typer.Typer()
    command.register(app)

    @app.command("other")
    def other() -> None:  # a second command keeps `simulator` a sub-command
        """Unused."""

    return app


def test_flags_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[SimulatorConfig] = []
    monkeypatch.setattr(server, "serve", lambda config: started.append(config))
    result = CliRunner().invoke(
        root(),
        ["simulator", "--port", "9999", "--seed", "3", "--clinics", "2", "--company-id", "2001",
         "--latency-ms", "25", "--password", "pw"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert started == [
        SimulatorConfig(port=9999, seed=3, clinics=2, company_id=2001, latency_ms=25, password="pw")
    ]
    assert "http://127.0.0.1:9999" in result.output
    assert "company_id 2001" in result.output
    assert "company_id 2002" in result.output
    assert "seed 3, 2 clinic(s)" in result.output


def test_defaults_are_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "serve", lambda config: None)
    result = CliRunner().invoke(root(), ["simulator"])
    assert "company_id 1001  username vet@example.com  password simulator-password" in result.output
    assert "http://127.0.0.1:8780" in result.output


def test_the_command_takes_a_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[SimulatorConfig] = []
    monkeypatch.setattr(server, "serve", lambda config: started.append(config))
    result = CliRunner().invoke(root(), ["simulator", "--profile", "wild"])
    assert result.exit_code == 0, result.output
    assert started == [SimulatorConfig(profile="wild")]
    assert "profile wild" in result.output
    refused = CliRunner().invoke(root(), ["simulator", "--profile", "tame"])
    assert refused.exit_code != 0
    assert len(started) == 1
