"""Wake this process's notifiers the moment a transaction that wrote outbox rows commits.

PostgreSQL's NOTIFY (`wake_notifiers`) reaches every notifier, in any process,
after a round trip through the server and the listener's connection. A hub whose writer
and notifier share a process need not wait for it: the writer reports its commit here and
the notifier's planner wakes at once. The outbox stays the source of truth: a wake only
says "look now"; a notifier that misses one still plans the rows on NOTIFY or its poll.
"""

from __future__ import annotations

import threading
import weakref

import psycopg

# NOTIFYed when outbox rows are written, so notifiers wake at commit instead of polling.
OUTBOX_CHANNEL = "telehub_outbox"

_lock = threading.Lock()
_listeners: set[threading.Event] = set()
# Connections whose open transaction has written outbox rows.
_pending: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()


def register(event: threading.Event) -> None:
    """Set `event` whenever a transaction of this process that wrote outbox rows commits."""
    with _lock:
        _listeners.add(event)


def unregister(event: threading.Event) -> None:
    with _lock:
        _listeners.discard(event)


def written(conn: psycopg.Connection) -> None:
    """Outbox rows were written in `conn`'s open transaction."""
    with _lock:
        _pending.add(conn)


def begin(conn: psycopg.Connection) -> None:
    """A transaction starts on `conn`: forget what a rolled-back one had written."""
    with _lock:
        _pending.discard(conn)


def committed(conn: psycopg.Connection) -> None:
    """`conn`'s transaction committed: wake the listeners if it wrote outbox rows."""
    with _lock:
        if conn not in _pending:
            return
        _pending.discard(conn)
        listeners = list(_listeners)
    for event in listeners:
        event.set()


def wake_notifiers(conn: psycopg.Connection) -> None:
    """Tell listening notifiers (on commit: PostgreSQL holds NOTIFY until then) to drain;
    a committing writer wakes its own process's notifier at once (`committed`)."""
    conn.execute("SELECT pg_notify(%s, '')", (OUTBOX_CHANNEL,))
    written(conn)
