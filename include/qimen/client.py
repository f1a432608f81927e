"""What the pipelines need from a Qimen client, and what one call gives back.

``QimenClient`` is the seam between the bridge and the Airflow hook
(``qimen_provider.hooks.qimen.QimenHook`` implements it): pipelines are written and typed against
this protocol, never against the hook, so they import no Airflow and any client that keeps these
promises (the hook, a client of another transport) can carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .parsing import Response


@dataclass(frozen=True)
class QimenResult:
    """One answered call. Bodies are kept so the caller can record exactly what was exchanged."""

    method: str
    response: Response
    request_body: str
    response_body: str
    http_status: int
    duration_ms: int  # the whole call, retries and waits included
    attempts: int
    url: str  # the last request URL, sign masked

    @property
    def success(self) -> bool:
        return self.response.success


class QimenClient(Protocol):
    """A warehouse account: its codes, and ``call``, which sends one message (with the client's own
    retries and rate limit) and returns its answer, or raises ``qimen.errors.QimenError`` with
    ``request_body``, ``response_body``, ``http_status``, ``url``, ``attempts`` and ``verdict`` set."""

    @property
    def warehouse_code(self) -> str: ...

    @property
    def owner_code(self) -> str: ...

    def call(self, method: str, document: str | bytes | Mapping[str, Any], *, raise_on_failure: bool = True,
             max_retries: int | None = None) -> QimenResult: ...
