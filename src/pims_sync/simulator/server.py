"""Serve the simulator with uvicorn: in the foreground (CLI) or in a background thread (tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from pims_sync.simulator.app import create_app
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.simulation import Simulation


def serve(config: SimulatorConfig, *, log_level: str = "warning") -> None:
    """Run until interrupted (one process, one event loop: requests interleave, never block)."""
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=False,
    )


class ThreadedServer:
    """An ASGI app under uvicorn in a daemon thread, on a socket bound at construction.

    `port` 0 picks a free port. Used by BackgroundSimulator and by test stand-ins.
    """

    def __init__(self, app: Starlette, *, host: str, port: int = 0, name: str) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # asyncio turns Nagle off only on sockets made with proto IPPROTO_TCP; this one (proto
        # 0) is passed to uvicorn, so without this every answer waited ~40 ms for a delayed ACK.
        # Accepted connections inherit the option.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def start(self) -> None:
        """Start serving and wait until the socket accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self._thread.name} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


class BackgroundSimulator:
    """A real HTTP simulator in a daemon thread (a context manager).

    It listens on `config.host` and `port` (0, the default, picks a free port): tests use
    the free port, the demo may ask for a fixed one.
    """

    def __init__(self, config: SimulatorConfig | None = None, *, port: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.app = create_app(self.config)
        self.simulation: Simulation = self.app.state.simulation
        self._server = ThreadedServer(
            self.app, host=self.config.host, port=port, name="idexx-simulator"
        )
        self.port: int = self._server.port
        self.base_url = self._server.base_url

    def start(self) -> BackgroundSimulator:
        """Start serving and wait until the socket accepts requests."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.stop()

    def __enter__(self) -> BackgroundSimulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
