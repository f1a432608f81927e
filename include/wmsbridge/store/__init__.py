"""The integration store: tables the bridge owns next to (or apart from) the shop's database.

``schema`` defines them, ``migrate`` creates and upgrades them (Alembic, version table
``wms_alembic_version``), ``repo.IntegrationStore`` makes every state change the pipelines need.
Analysts' reference: docs/data-dictionary.md.
"""

from .engine import create_store_engine
from .migrate import current_revision, head_revision, upgrade
from .repo import InboxInsert, IntegrationStore, InvalidTransition, StoreError, UnknownOrder

__all__ = [
    "InboxInsert",
    "IntegrationStore",
    "InvalidTransition",
    "StoreError",
    "UnknownOrder",
    "create_store_engine",
    "current_revision",
    "head_revision",
    "upgrade",
]
