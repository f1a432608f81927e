"""Run summaries that tell the truth: every record of a run lands in exactly one outcome bucket.

The buckets are the same for every flow, so a person reads every task log the same way:

- ``sent``            the warehouse holds it now (accepted, or already had exactly this);
- ``unchanged``       nothing to do (content already synchronized, order already accepted);
- ``rejected``        our own rules refused the record, or a value of its shop row cannot be read
                      (bad bytes, ``'abc'`` as an amount): a person fixes the shop;
- ``held``            waits for something that will come by itself (its items reaching the warehouse,
                      or another live run that is sending it right now);
- ``retry_waiting``   a passing fault outlived this run's retries, or an earlier one's backoff is not
                      over yet: a later run tries again (``next_attempt_at``), for ever;
- ``needs_person``    the warehouse refused it for good, or holds another version: a person decides;
- ``recovered``       left in flight by a dead attempt, taken over and delivered by this run.

The run's verdict (``policy.run_flow``) is ``needs_person_verdict``: what the flow read back from the
store for this run id when it did (orders), else the ``needs_person`` count.

Counts are complete; samples name at most ``SAMPLE`` records per bucket, and the log says where to
see the rest. The returned value (XCom) is the counts and short samples, never the whole batch.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

log = logging.getLogger(__name__)
SAMPLE = 20  # how many codes and reasons a summary names per bucket

# Outcome buckets in the order a summary prints them; the last three are problems.
OUTCOMES = ("sent", "unchanged", "recovered", "held", "rejected", "retry_waiting", "needs_person")
PROBLEMS = ("rejected", "retry_waiting", "needs_person")


@dataclass
class RunReport:
    flow: str
    dry_run: bool = False
    extracted: int = 0
    valid: int = 0
    seconds: float = 0.0
    # where to see every record of a problem bucket (a view or query), named in the log
    where_to_look: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    samples: dict[str, list[str]] = field(default_factory=dict)
    # codes a person asked for (trigger form) that the shop does not have as such
    unknown_codes: list[str] = field(default_factory=list)
    would_send: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The run's verdict, when the flow reads it back from the store by run id: records waiting for a
    # person because of THIS run's decisions (the same on every try). None: use counts["needs_person"].
    verdict_needs_person: int | None = None
    verdict_samples: list[str] = field(default_factory=list)
    refused_resends: int = 0  # forced resends the warehouse refused (the order itself stays accepted)
    # records refused by an earlier run that are valid now (the shop fixed them): sent by this one
    fixed: list[str] = field(default_factory=list)

    def set_verdict(self, needs_person: int, samples: list[str]) -> None:
        self.verdict_needs_person, self.verdict_samples = needs_person, list(samples)[:SAMPLE]
        earlier = self.counts["needs_person"] - needs_person
        if earlier > 0:
            self.notes.append(f"{earlier} of the records needing a person were decided by earlier runs "
                              "(they do not fail this run; this run's own decisions do)")

    @property
    def needs_person_verdict(self) -> int:
        """How many records make this run fail: the store's count by run id when the flow set one."""
        return self.counts["needs_person"] if self.verdict_needs_person is None else self.verdict_needs_person

    def add(self, outcome: str, key: str | None = None, reason: str | None = None, n: int = 1) -> None:
        """Count ``n`` records in ``outcome``; name ``key`` (with ``reason``) among its samples."""
        if outcome not in self.counts:
            raise ValueError(f"unknown outcome {outcome!r}; one of {OUTCOMES}")
        self.counts[outcome] += n
        if key is not None:
            sample = self.samples.setdefault(outcome, [])
            if len(sample) < SAMPLE:
                sample.append(f"{key}: {reason}" if reason else str(key))

    def __getattr__(self, name: str) -> int:
        # report.sent, report.rejected ...: the counts read like fields
        counts = self.__dict__.get("counts")
        if counts is not None and name in counts:
            return counts[name]
        raise AttributeError(name)

    @property
    def undelivered(self) -> int:
        """Valid records the warehouse does not hold after this run (waiting for a retry or a person)."""
        return self.counts["retry_waiting"] + self.counts["needs_person"]

    @property
    def problems(self) -> int:
        return sum(self.counts[o] for o in PROBLEMS)

    def summary(self) -> str:
        """The one line a person reads first."""
        parts = [f"{o.replace('_', ' ')} {self.counts[o]}" for o in OUTCOMES if self.counts[o] or o == "sent"]
        head = f"{self.flow}: extracted {self.extracted}, " + ", ".join(parts)
        if self.unknown_codes:
            named = ", ".join(self.unknown_codes[:5]) + (" ..." if len(self.unknown_codes) > 5 else "")
            head += f", unknown codes {len(self.unknown_codes)} ({named})"
        return head + (" (DRY RUN: nothing sent, nothing written)" if self.dry_run else "") + f" in {self.seconds:.1f} s"

    def as_dict(self) -> dict:
        out = asdict(self)
        out["summary"] = self.summary()
        out["samples"] = {k: v[:5] for k, v in self.samples.items()}  # XCom stays short
        out["would_send"] = self.would_send[:SAMPLE]
        out["fixed"] = self.fixed[:SAMPLE]
        return out

    def log(self) -> None:
        """Summary first (INFO); every problem bucket as a WARNING with its full count."""
        log.info("%s", self.summary())
        if self.fixed:
            log.info("%s: %d fixed in the shop since an earlier run refused them, sent now: %s%s", self.flow,
                     len(self.fixed), ", ".join(self.fixed[:SAMPLE]), " ..." if len(self.fixed) > SAMPLE else "")
        for note in self.notes:
            log.info("%s: %s", self.flow, note)
        if self.unknown_codes:
            log.warning("%s: %d requested codes are not paid, unshipped orders of the shop: %s",
                        self.flow, len(self.unknown_codes), ", ".join(self.unknown_codes[:SAMPLE]))
        for outcome in ("held", *PROBLEMS):
            count, sample = self.counts[outcome], self.samples.get(outcome, [])
            if not count:
                continue
            more = count - len(sample)
            tail = f" ... and {more} more" if more > 0 else ""
            where = f" (all of them: {self.where_to_look})" if self.where_to_look else ""
            level = logging.INFO if outcome == "held" else logging.WARNING
            log.log(level, "%s %s: %d%s%s", self.flow, outcome.replace("_", " "), count, where,
                    "".join(f"\n    {s}" for s in sample) + tail)
        if self.would_send:
            log.info("%s would send %d: %s%s", self.flow, self.counts["sent"], ", ".join(self.would_send[:SAMPLE]),
                     " ..." if len(self.would_send) > SAMPLE else "")
