"""This process's notifiers, told of a transaction that wrote outbox rows before and after it
commits, so a red alert goes out without waiting for NOTIFY, a planner pass and a claim.

PostgreSQL's NOTIFY (alerts.store.wake_notifiers) reaches every notifier, in any process,
after the commit and a round trip through the listener's connection; the notifier then plans
and claims in transactions of its own. A hub whose writer and notifier share a process does
better: just before the writer commits, the notifier plans the new rows and claims its MQTT
deliveries in the writer's transaction (`in_transaction`), and once it has committed they are
handed over to be published at once (`committed`). The outbox stays the source of truth: a
claim is a lease in the database, so a hub that dies between the commit and the publish
leaves deliveries that come due again (at its restart, or when the lease ends); a
transaction that rolls back takes its plan and claims with it.
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol

import psycopg

Taken = object


class Listener(Protocol):
    """A notifier of this process."""

    def in_transaction(self, conn: psycopg.Connection) -> Taken | None:
        """In the open transaction that wrote outbox rows, just before it commits: what to
        take over (planned and claimed in it), or None."""

    def committed(self, taken: Taken | None) -> None:
        """That transaction committed: send what was taken, or look for the rows now."""


_lock = threading.Lock()
_listeners: list[Listener] = []
# Connections whose open transaction has written outbox rows.
_pending: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()


def register(listener: Listener) -> None:
    """Tell `listener` of every transaction of this process that writes outbox rows."""
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)


def unregister(listener: Listener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def written(conn: psycopg.Connection) -> None:
    """Outbox rows were written in `conn`'s open transaction."""
    with _lock:
        _pending.add(conn)


def begin(conn: psycopg.Connection) -> None:
    """A transaction starts on `conn`: forget what a rolled-back one had written."""
    with _lock:
        _pending.discard(conn)


def before_commit(conn: psycopg.Connection) -> list[tuple[Listener, Taken | None]]:
    """`conn`'s transaction is about to commit: if it wrote outbox rows, let each listener
    take them over in it. Pass the result to `committed` once the commit succeeded."""
    with _lock:
        if conn not in _pending:
            return []
        _pending.discard(conn)
        listeners = list(_listeners)
    return [(listener, listener.in_transaction(conn)) for listener in listeners]


def committed(taken: list[tuple[Listener, Taken | None]]) -> None:
    """The transaction `before_commit` saw committed: each listener sends what it took."""
    for listener, what in taken:
        listener.committed(what)
