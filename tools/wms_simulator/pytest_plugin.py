"""pytest fixtures for the WMS simulator (registered in tests/conftest.py).

``wms_simulator``: a fresh in-process simulator (in-memory state, free port) verifying signatures
with ``.secret`` and refusing customerIds other than ``.customer_id``.
``wms_simulator_factory(**options)``: the same with any ``SimulatorConfig`` option (``faults=`` a
``FaultSettings`` or a dict); every simulator it starts is stopped after the test.
``callback_receiver``: a loopback endpoint recording the deliveryorder.confirm callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from .callback_receiver import CallbackReceiver
from .client import SimulatorAdmin
from .config import SimulatorConfig
from .faults import FaultSettings
from .server import SimulatorServer

DEFAULT_SECRET = "sim-secret"
DEFAULT_CUSTOMER_ID = "SIM-CUSTOMER-001"
DEFAULT_APP_KEY = "sim-app"


@dataclass
class RunningSimulator:
    """A started simulator, as tests see it."""

    server: SimulatorServer
    admin: SimulatorAdmin
    app_key: str = DEFAULT_APP_KEY

    @property
    def config(self) -> SimulatorConfig:
        return self.server.config

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def root_url(self) -> str:
        return self.server.root_url

    @property
    def secret(self) -> str | None:
        return self.server.config.secret

    @property
    def customer_id(self) -> str | None:
        return self.server.config.customer_id

    def url(self, path: str = "/") -> str:
        return self.server.url(path)


def start_simulator(**options) -> RunningSimulator:
    options.setdefault("secret", DEFAULT_SECRET)
    options.setdefault("customer_id", DEFAULT_CUSTOMER_ID)
    options.setdefault("host", "127.0.0.1")
    options.setdefault("port", 0)
    faults = options.get("faults")
    if isinstance(faults, dict):
        options["faults"] = FaultSettings(**faults)
    server = SimulatorServer(SimulatorConfig(**options)).start()
    return RunningSimulator(server, SimulatorAdmin(server.root_url))


@pytest.fixture
def wms_simulator_factory():
    started: list[RunningSimulator] = []

    def factory(**options) -> RunningSimulator:
        simulator = start_simulator(**options)
        started.append(simulator)
        return simulator

    yield factory
    for simulator in started:
        simulator.server.stop()


@pytest.fixture
def wms_simulator(wms_simulator_factory) -> RunningSimulator:
    return wms_simulator_factory()


@pytest.fixture
def callback_receiver():
    with CallbackReceiver(secret=DEFAULT_SECRET) as receiver:
        yield receiver
