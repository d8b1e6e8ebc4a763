"""The simulator's ASGI app: IDEXX Neo's routes plus the `/__sim__/` control API."""

from __future__ import annotations

from starlette.applications import Starlette

from pims_sync.simulator import booking, control, feeds, login
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.simulation import Simulation


def create_app(config: SimulatorConfig | None = None) -> Starlette:
    """Build a fresh simulator; its `Simulation` is at `app.state.simulation`."""
    sim = Simulation(config or SimulatorConfig())
    app = Starlette(
        routes=[
            *login.routes(sim),
            *feeds.routes(sim),
            *booking.routes(sim),
            *control.routes(sim),
        ]
    )
    app.state.simulation = sim
    return app
