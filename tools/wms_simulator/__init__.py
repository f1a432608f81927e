"""A Qimen-compatible WMS simulator: a real HTTP warehouse for local runs, tests and benchmarks.

``SimulatorServer(SimulatorConfig(...)).start()`` in process, ``python -m wms_simulator`` from a
shell, ``SimulatorAdmin(url)`` to look inside and to ship. See docs/simulator.md.
"""

from .client import SimulatorAdmin, SimulatorAdminError
from .config import JUXING_PATH_V1, JUXING_PATH_V2, QIMEN_PATHS, QIMEN_ROUTER_PATH, SimulatorConfig
from .faults import FaultSettings
from .server import SimulatorServer

__all__ = [
    "JUXING_PATH_V1",
    "JUXING_PATH_V2",
    "QIMEN_PATHS",
    "QIMEN_ROUTER_PATH",
    "FaultSettings",
    "SimulatorAdmin",
    "SimulatorAdminError",
    "SimulatorConfig",
    "SimulatorServer",
]
