"""The integration store: tables the bridge owns next to (or apart from) the shop's database.

``schema`` defines them, ``migrate`` creates and upgrades them (Alembic, version table
``wms_alembic_version``), ``IntegrationStore`` (integration.py) composes one repository per
aggregate, ``attention`` defines what waits for a person. Analysts' reference: docs/data-dictionary.md.
"""

from .base import InvalidTransition, RunRef, StoreError, UnknownOrder
from .engine import create_store_engine
from .integration import IntegrationStore
from .migrate import current_revision, head_revision, upgrade

__all__ = [
    "IntegrationStore",
    "InvalidTransition",
    "RunRef",
    "StoreError",
    "UnknownOrder",
    "create_store_engine",
    "current_revision",
    "head_revision",
    "upgrade",
]
