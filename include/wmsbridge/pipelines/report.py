"""Run summaries: small, JSON-able (they travel in XCom), readable in task logs."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

log = logging.getLogger(__name__)
SAMPLE = 20  # how many codes and reasons a summary names


@dataclass
class RunReport:
    flow: str
    extracted: int = 0
    valid: int = 0
    rejected: int = 0
    held: int = 0
    unchanged: int = 0
    skipped: int = 0
    sent: int = 0
    failed: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)
    failed_codes: list[str] = field(default_factory=list)
    held_codes: list[str] = field(default_factory=list)
    would_send: list[str] = field(default_factory=list)

    def note(self, bucket: str, values) -> None:
        target = getattr(self, bucket)
        for value in values:
            if len(target) >= SAMPLE:
                return
            target.append(value)

    def as_dict(self) -> dict:
        return asdict(self)

    def log(self) -> None:
        log.info(
            "%s: extracted %d, valid %d, rejected %d, held %d, unchanged %d, skipped %d, sent %d, failed %d"
            "%s in %.1f s",
            self.flow, self.extracted, self.valid, self.rejected, self.held, self.unchanged, self.skipped,
            self.sent, self.failed, " (DRY RUN: nothing sent)" if self.dry_run else "", self.seconds,
        )
        for reason in self.reasons:
            log.info("%s rejected: %s", self.flow, reason)
        if self.held_codes:
            log.warning("%s held (items not in the warehouse yet): %s", self.flow, ", ".join(self.held_codes))
        if self.would_send:
            log.info("%s would send: %s", self.flow, ", ".join(self.would_send))
        if self.failed_codes:
            log.error("%s could not deliver: %s", self.flow, ", ".join(self.failed_codes))
