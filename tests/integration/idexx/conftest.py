"""Simulator and IDEXX provider fixtures (defined in `fixtures.py`, shared with the contract)."""

from __future__ import annotations

from tests.integration.idexx.fixtures import provider, sim, simulator

__all__ = ["provider", "sim", "simulator"]
