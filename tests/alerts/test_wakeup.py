"""The writer's hand-over to this process's notifiers: only a transaction that wrote outbox
rows is offered to them, and only a committed one is handed over."""

from __future__ import annotations

from typing import Any

from alerts import wakeup


class _Conn:
    """Stands in for a psycopg connection (the module only keys on it)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def execute(self, query: str, params: Any = None) -> None:
        self.sql.append(query)


class _Listener:
    def __init__(self) -> None:
        self.offered: list[Any] = []
        self.handed: list[Any] = []

    def in_transaction(self, conn: Any) -> object:
        self.offered.append(conn)
        return ("claim", conn)

    def committed(self, taken: object | None) -> None:
        self.handed.append(taken)


def _listener() -> _Listener:
    listener = _Listener()
    wakeup.register(listener)
    return listener


def test_outbox_rows_are_offered_before_the_commit_and_handed_over_after() -> None:
    first, second, conn = _listener(), _listener(), _Conn()
    try:
        wakeup.begin(conn)  # type: ignore[arg-type]
        wakeup.written(conn)  # type: ignore[arg-type]
        taken = wakeup.before_commit(conn)  # type: ignore[arg-type]
        assert first.offered == [conn] and second.offered == [conn]
        assert first.handed == []                       # nothing before the commit
        wakeup.committed(taken)
        assert first.handed == [("claim", conn)] and second.handed == [("claim", conn)]
    finally:
        wakeup.unregister(first)
        wakeup.unregister(second)


def test_no_outbox_rows_or_a_rolled_back_transaction_offers_nothing() -> None:
    listener, conn = _listener(), _Conn()
    try:
        wakeup.begin(conn)  # type: ignore[arg-type]
        assert wakeup.before_commit(conn) == []  # type: ignore[arg-type]
        wakeup.written(conn)  # type: ignore[arg-type]   # then rolled back
        wakeup.begin(conn)  # type: ignore[arg-type]     # the next transaction on it
        assert wakeup.before_commit(conn) == []  # type: ignore[arg-type]
        assert listener.offered == []
    finally:
        wakeup.unregister(listener)


def test_a_stopped_notifier_is_offered_nothing() -> None:
    listener, conn = _listener(), _Conn()
    wakeup.unregister(listener)
    wakeup.written(conn)  # type: ignore[arg-type]
    wakeup.committed(wakeup.before_commit(conn))  # type: ignore[arg-type]
    assert listener.offered == [] and listener.handed == []


def test_queueing_a_notification_still_notifies_other_processes() -> None:
    from alerts import store

    listener, conn = _listener(), _Conn()
    try:
        store.wake_notifiers(conn)  # type: ignore[arg-type]
        assert conn.sql and "pg_notify" in conn.sql[0]
        assert len(wakeup.before_commit(conn)) == 1  # type: ignore[arg-type]
    finally:
        wakeup.unregister(listener)
