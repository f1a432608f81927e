"""The group-commit writer: every item written once, in batches, and a failure never hidden."""

from __future__ import annotations

import threading

import pytest

from wmsbridge.pipelines.group_commit import GroupCommitWriter


def test_every_item_is_written_once_in_order_and_batches_form_under_load():
    written: list[list[int]] = []
    gate = threading.Event()

    def write(items):
        gate.wait(5)  # the first write is slow: the next items queue up meanwhile
        written.append(list(items))

    with GroupCommitWriter(write, max_batch=50) as writer:
        for i in range(200):
            writer.put(i)
        gate.set()
    assert [i for batch in written for i in batch] == list(range(200))
    assert max(len(b) for b in written) == 50 and len(written) < 200
    assert (writer.batches, writer.items) == (len(written), 200)


def test_a_failed_write_stops_the_writer_and_reaches_the_caller():
    def write(items):
        raise ConnectionError("the store went away")

    writer = GroupCommitWriter(write).__enter__()
    writer.put("first")
    with pytest.raises(ConnectionError, match="went away"):
        writer.close()
    with pytest.raises(RuntimeError, match="stopped after an error"):
        writer.put("second")


def test_leaving_the_block_with_an_error_keeps_that_error():
    def write(items):
        raise ConnectionError("store error")

    with pytest.raises(KeyError):
        with GroupCommitWriter(write) as writer:
            writer.put(1)
            raise KeyError("the caller's own error")
