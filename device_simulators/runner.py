"""Composition root of `telehub simulate`: a caseload's devices driven by the simulated clock."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from device_simulators.clock import SimClock, utcnow
from device_simulators.device import SimulatedDevice
from device_simulators.physiology import Measurement, caseload_models, measurements_between
from device_simulators.store import ReadingStore
from device_simulators.telecare import DeviceEvent, events_between
from telehub.config import MqttEndpoint
from telehub.domain.roster import Caseload

logger = logging.getLogger(__name__)

MAX_UNACKED = 2_000          # readings in flight before the fast phase waits for the broker
CONNECT_WAIT_S = 10.0        # how long to wait for devices to connect before starting anyway
TICK_S = 0.02                # how often the compressed clock is looked at
LIVE_TICK_S = 0.25           # ... and the real-time one (readings come hours apart)
HISTORY_ACK_WAIT_S = 120.0   # longest wait for the broker to take the history batches
CAUGHT_UP_SLACK = timedelta(seconds=1)
CLOSE_TIMEOUT_S = 15.0       # how long each device waits for its last PUBACKs on exit


@dataclass(frozen=True)
class SimulationPlan:
    """Which stretch of simulated time to produce, and how fast."""

    start: datetime                 # the first simulated moment
    fast_until: datetime            # before this: as fast as the broker accepts
    anchor: datetime                # scenario start offsets are relative to this
    speed: float = 1440.0           # after fast_until: simulated seconds per real second
    run_for: float | None = None    # real seconds to go on after catching up (None: until stopped)

    @classmethod
    def ending_now(cls, *, backfill: timedelta, window: timedelta, speed: float,
                   run_for: float | None = None, anchor: datetime | None = None,
                   now: datetime | None = None) -> SimulationPlan:
        """History `backfill` long, then `window` at `speed`, catching up with now."""
        now = now or utcnow()
        fast_until = now - window
        return cls(start=fast_until - backfill, fast_until=fast_until, anchor=anchor or now,
                   speed=speed, run_for=run_for)


@dataclass
class SimulationReport:
    """What a run did."""

    recorded: int = 0               # readings taken by the devices
    events: int = 0                 # telecare events (falls, pendant presses) raised
    published: int = 0              # readings sent to the broker (batches count each reading)
    acknowledged: int = 0           # readings the broker acknowledged
    left_on_disk: int = 0           # readings still waiting for a PUBACK (sent next run)
    simulated_until: datetime | None = None


Progress = Callable[[SimulationReport, SimClock], None]


class Simulation:
    """A caseload's devices, the clock and the stream of readings."""

    def __init__(self, caseload: Caseload, endpoint: MqttEndpoint, *, topic_root: str,
                 state_path: Path | None, plan: SimulationPlan,
                 credentials: Mapping[str, str] | None = None) -> None:
        self.plan = plan
        self.clock = SimClock(plan.fast_until, plan.speed)
        self.report = SimulationReport(simulated_until=plan.start)
        self._stop = threading.Event()
        self._progress: Progress | None = None
        self._store = ReadingStore(state_path)
        creds = credentials or {}
        self.devices = {d.device_id: SimulatedDevice(d, endpoint, self._store,
                                                     topic_root=topic_root,
                                                     password=creds.get(d.device_id))
                        for d in caseload.devices()}
        far = plan.anchor + timedelta(days=3650)
        models = caseload_models(caseload, plan.anchor)
        # Telecare events come from the live stretch only: an alarm from the backfilled
        # history would have been dealt with at the time, not raised as an emergency now.
        live = max(plan.start, plan.fast_until)
        self._events: Iterator[Measurement | DeviceEvent] = heapq.merge(
            measurements_between(models, plan.start, far),
            events_between(models, caseload.seed, live, far), key=lambda e: e.time)
        # Devices whose scenario has them off the network when the run starts stay off.
        self._offline_at_start = {d.device_id for m in models for d in m.spec.devices
                                  if m.scenario.offline(plan.start)}

    def run(self, stop: threading.Event, progress: Progress | None = None) -> SimulationReport:
        """Connect every device, produce the readings, and close cleanly; returns the report."""
        self._stop = stop
        self._progress = progress
        try:
            self._connect_all()
            self._loop(stop, progress)
        finally:
            self._close_all()
        return self.report

    def _connect_all(self) -> None:
        history = self.plan.start < self.plan.fast_until
        online = [d for d in self.devices.values()
                  if d.spec.device_id not in self._offline_at_start]
        for device in online:
            device.holding = history
            device.go_online()
        deadline = time.monotonic() + CONNECT_WAIT_S
        while time.monotonic() < deadline:
            if all(d.connected or d.refused for d in online):
                break
            time.sleep(0.05)
        offline = sum(not d.connected for d in online)
        if offline:
            logger.warning("%d of %d devices are not connected; their readings wait on disk",
                           offline, len(online))

    def _loop(self, stop: threading.Event, progress: Progress | None) -> None:
        upcoming = next(self._events, None)
        caught_up_at: float | None = None
        last_progress = 0.0
        while not stop.is_set() and upcoming is not None:
            now = self.clock.now()
            was_fast = self.clock.fast
            while upcoming is not None and upcoming.time <= now and not stop.is_set():
                if self.clock.fast and upcoming.time >= self.plan.fast_until:
                    break
                self._deliver(upcoming)
                upcoming = next(self._events, None)
                if self.clock.fast:
                    self._hold_back()
            if stop.is_set():
                break
            if was_fast:
                self._release_history()
                self.clock.start_compressed()
                logger.info("history written up to %s; clock now runs at %g×",
                            self.plan.fast_until.isoformat(timespec="minutes"), self.plan.speed)
            else:
                self.report.simulated_until = now   # everything up to `now` is delivered
            self._pump_all()
            if progress and time.monotonic() - last_progress > 0.25:
                progress(self.report, self.clock)
                last_progress = time.monotonic()
            # Caught up once everything up to (nearly) the real time has been delivered.
            if caught_up_at is None and not was_fast and now >= utcnow() - CAUGHT_UP_SLACK:
                caught_up_at = time.monotonic()
                logger.info("simulated clock has caught up with real time")
            if (caught_up_at is not None and self.plan.run_for is not None
                    and time.monotonic() - caught_up_at >= self.plan.run_for):
                break
            stop.wait(TICK_S if caught_up_at is None else LIVE_TICK_S)

    def _release_history(self) -> None:
        """Send each device's history as store-and-forward batches, and wait for the PUBACKs."""
        for device in self.devices.values():
            device.release()
        self._hold_back(force=True)

    @staticmethod
    def _wait_until(done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _deliver(self, m: Measurement | DeviceEvent) -> None:
        device = self.devices.get(m.device_id)
        if device is None:
            return
        if isinstance(m, DeviceEvent):
            device.record_event(m)
            self.report.events += 1
            self.report.simulated_until = m.time
            return
        if m.offline and device.wanted_online:
            if device.holding:       # what it had before going offline still gets through
                device.release()
                device.holding = True
            device.go_offline()
        elif not m.offline and not device.wanted_online:
            device.holding = self.clock.fast
            device.go_online()
        device.record(m)
        self.report.recorded += 1
        self.report.simulated_until = m.time

    def _hold_back(self, *, force: bool = False, limit: int = MAX_UNACKED) -> None:
        """Let the broker acknowledge before sending much more (and report progress)."""
        if self.report.recorded % 200 and not force:
            return
        self._pump_all()
        if self._progress:
            self._progress(self.report, self.clock)
        deadline = time.monotonic() + HISTORY_ACK_WAIT_S
        while sum(d.inflight for d in self.devices.values()) > (0 if force else limit):
            if (self._stop.is_set() or not any(d.connected for d in self.devices.values())
                    or time.monotonic() > deadline):
                return           # broker gone or slow: readings wait on disk meanwhile
            time.sleep(0.005)
            for d in self.devices.values():
                d.reap()

    def _pump_all(self) -> None:
        for device in self.devices.values():
            device.pump()
        self.report.published = sum(d.published for d in self.devices.values())
        self.report.acknowledged = sum(d.acked for d in self.devices.values())

    def _close_all(self) -> None:
        """Wait (bounded) for outstanding PUBACKs of every device, then disconnect each."""
        self._pump_all()
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        while (any(d.inflight for d in self.devices.values())
               and any(d.connected for d in self.devices.values())
               and time.monotonic() < deadline):
            time.sleep(0.02)
            for d in self.devices.values():
                d.reap()
        # Every device through each step together: a few seconds for a thousand devices.
        devices = list(self.devices.values())
        for device in devices:
            device.pump()
            device.say_offline()
        self._wait_until(lambda: all(d.said_offline() for d in devices), 5.0)
        for device in devices:
            device.hang_up()
        self._wait_until(lambda: all(d.hung_up() for d in devices), 5.0)
        for device in devices:
            device.forget_connection()
            device.save_state()
        self._pump_all()
        self.report.left_on_disk = self._store.count()
        self._store.close()
