"""The writer thread's typed work queue: device messages in arrival order, and control items."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from telehub.mqtt.topics import parse_device_topic

# The consumer puts one item per MQTT message, typed by its topic (readings, device
# status, telecare events). Control items travel the same queue, so they keep their
# place among the messages: a `Flush` closes the batch being filled, a `Barrier`'s
# event is set once everything queued before it is committed and acked, and `Stop`
# ends the writer after everything before it.

# How long the writer waits for a first item before looking at its stop flag.
IDLE_POLL_S = 0.2
# A batch also closes at this many payload bytes: a store-and-forward message may carry
# 10,000 readings, and a thousand of those must not become one transaction.
BATCH_MAX_BYTES = 4_000_000


@dataclass(frozen=True)
class Received:
    """One MQTT message as the consumer took it off the broker."""

    topic: str
    payload: bytes = field(repr=False)   # health data: never in a log line
    mid: int
    qos: int
    received_at: float       # wall clock (time.time()), stored as readings.received_at
    arrived: float = 0.0     # monotonic clock, for batch latency
    generation: int = 0      # which broker connection delivered it (acks go to the same one)

    @property
    def received_time(self) -> datetime:
        """`received_at` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.received_at, UTC)


@dataclass(frozen=True)
class ReadingsWork:
    """A readings message; `device_id` is None when its topic names no valid device."""

    message: Received
    device_id: str | None


@dataclass(frozen=True)
class StatusWork:
    """A device's (retained) status message."""

    message: Received
    device_id: str


@dataclass(frozen=True)
class EventsWork:
    """A telecare device's event message."""

    message: Received
    device_id: str


@dataclass(frozen=True)
class Flush:
    """Commit what has been taken so far without waiting for the batch to fill."""


@dataclass(frozen=True)
class Barrier:
    """`done` is set once every item queued before this one is committed and acked."""

    done: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class Stop:
    """The writer stops after committing everything queued before this."""


MessageWork = ReadingsWork | StatusWork | EventsWork
Control = Flush | Barrier | Stop
WorkItem = MessageWork | Control


def classify(message: Received, prefix: str) -> MessageWork:
    """The work item for a message, by its topic (no I/O: the consumer calls it)."""
    parsed = parse_device_topic(message.topic, prefix)
    if parsed is None:
        return ReadingsWork(message, None)
    device_id, kind = parsed
    if kind == "status":
        return StatusWork(message, device_id)
    if kind == "events":
        return EventsWork(message, device_id)
    if kind == "readings":
        return ReadingsWork(message, device_id)
    return ReadingsWork(message, None)


@dataclass
class Taken:
    """What the writer took in one go: messages for one batch, then the control that ended it."""

    messages: list[MessageWork] = field(default_factory=list)
    control: Control | None = None


class WorkQueue:
    """A FIFO of work items shared by the consumer (producer) and the writer (consumer)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[WorkItem] = queue.Queue()

    def put(self, item: WorkItem) -> None:
        """Queue one item (never blocks)."""
        self._queue.put(item)

    def qsize(self) -> int:
        """Items waiting (approximate, as queue.Queue's)."""
        return self._queue.qsize()

    def take(self, *, max_items: int, wait_s: float, max_bytes: int = BATCH_MAX_BYTES,
             first_timeout: float = IDLE_POLL_S) -> Taken:
        """Up to `max_items` messages (or `max_bytes` of payload): waits for a first item, then
        at most `wait_s` for the rest; a control item ends the batch early. With `wait_s` 0
        the batch is what is queued now: a lone message goes at once."""
        taken = Taken()
        try:
            first = self._queue.get(timeout=first_timeout)
        except queue.Empty:
            return taken
        size = 0
        deadline = time.monotonic() + wait_s
        item: WorkItem | None = first
        while item is not None:
            if isinstance(item, Flush | Barrier | Stop):
                taken.control = item
                break
            taken.messages.append(item)
            size += len(item.message.payload)
            if len(taken.messages) >= max_items or size >= max_bytes:
                break
            item = self._next(deadline)
        return taken

    def _next(self, deadline: float) -> WorkItem | None:
        remaining = deadline - time.monotonic()
        try:
            return self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None
