"""The in-process notifier wake: only a committed transaction that wrote outbox rows wakes."""

from __future__ import annotations

import threading
from typing import Any

from alerts import wakeup


class _Conn:
    """Stands in for a psycopg connection (the module only keys on it)."""


def _event() -> threading.Event:
    event = threading.Event()
    wakeup.register(event)
    return event


def test_commit_after_outbox_rows_wakes_every_registered_notifier() -> None:
    first, second, conn = _event(), _event(), _Conn()
    try:
        wakeup.begin(conn)  # type: ignore[arg-type]
        wakeup.written(conn)  # type: ignore[arg-type]
        assert not first.is_set()           # nothing before the commit
        wakeup.committed(conn)  # type: ignore[arg-type]
        assert first.is_set() and second.is_set()
    finally:
        wakeup.unregister(first)
        wakeup.unregister(second)


def test_commit_without_outbox_rows_or_after_a_rollback_does_not_wake() -> None:
    event, conn = _event(), _Conn()
    try:
        wakeup.begin(conn)  # type: ignore[arg-type]
        wakeup.committed(conn)  # type: ignore[arg-type]
        assert not event.is_set()
        wakeup.written(conn)  # type: ignore[arg-type]   # then rolled back: never committed
        wakeup.begin(conn)  # type: ignore[arg-type]     # the next transaction on it
        wakeup.committed(conn)  # type: ignore[arg-type]
        assert not event.is_set()
    finally:
        wakeup.unregister(event)


def test_a_stopped_notifier_is_not_woken() -> None:
    event, conn = _event(), _Conn()
    wakeup.unregister(event)
    wakeup.written(conn)  # type: ignore[arg-type]
    wakeup.committed(conn)  # type: ignore[arg-type]
    assert not event.is_set()


def test_queuing_a_notification_marks_its_connection() -> None:
    conn = _ExecOnly()
    event = _event()
    try:
        wakeup.wake_notifiers(conn)  # type: ignore[arg-type]
        assert conn.sql and "pg_notify" in conn.sql[0]   # other processes still get NOTIFY
        wakeup.committed(conn)  # type: ignore[arg-type]
        assert event.is_set()
    finally:
        wakeup.unregister(event)


class _ExecOnly:
    def __init__(self) -> None:
        self.sql: list[str] = []

    def execute(self, query: str, params: Any = None) -> None:
        self.sql.append(query)
