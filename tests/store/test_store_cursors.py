"""Per-flow watermarks: set once, moved forward only."""

from __future__ import annotations

from datetime import timedelta


def test_a_cursor_moves_forward_only(store, clock):
    assert store.cursors.get("items") is None
    t0 = clock.now
    assert store.cursors.move("items", t0, run_id="r1") == t0
    assert store.cursors.move("items", t0 - timedelta(hours=1), run_id="slow") == t0  # never back
    assert store.cursors.get("items") == t0
    assert store.cursors.move("items", t0 + timedelta(minutes=5), run_id="r2") == t0 + timedelta(minutes=5)
    assert store.cursors.get("items") == t0 + timedelta(minutes=5)
    assert store.cursors.get("orders") is None  # one per flow
