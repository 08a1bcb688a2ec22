"""PostgreSQL unreachable for 30 s mid-stream: the hub acks nothing, backs off, resumes, loses
nothing. The shared PostgreSQL cannot be stopped, so the hub reaches it through a TCP proxy of
the test's own, and the test cuts the proxy: open connections are dropped and new ones closed
as soon as they are accepted."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from telehub.demo.embedded import free_port
from tests.reliability.harness import (
    Device,
    Hub,
    ShippedBroker,
    duplicated,
    publish_all,
    stored,
    wait_for,
    wait_hub_online,
)

pytestmark = pytest.mark.slow

OUTAGE_S = 30.0


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target (a TCP host, or PostgreSQL's socket directory as
    the embedded server uses); `cut()` drops everything until `restore()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.close()
            return
        try:
            host, port = self._target
            if host.startswith("/"):
                up_reader, up_writer = await asyncio.open_unix_connection(
                    f"{host}/.s.PGSQL.{port}")
            else:
                up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        def drop() -> None:
            self._open = False
            for writer in list(self._writers):
                with contextlib.suppress(Exception):
                    writer.transport.abort()
            self._writers.clear()
        self._loop.call_soon_threadsafe(drop)

    def restore(self) -> None:
        """Forward again."""
        self._loop.call_soon_threadsafe(lambda: setattr(self, "_open", True))

    def close(self) -> None:
        """Stop the proxy."""
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def proxied_db_url(db_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The test database's URL through a proxy the test can cut."""
    params = conninfo_to_dict(db_url)
    proxy = TcpProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    params.update(host="127.0.0.1", port=str(proxy.port))
    yield make_conninfo(**params), proxy
    proxy.close()


def test_database_unreachable_for_30_s_mid_stream_loses_nothing(
        shipped_broker: ShippedBroker, devices: list[Device], make_hub: Callable[..., Hub],
        db_url: str, proxied_db_url: tuple[str, TcpProxy],
        capsys: pytest.CaptureFixture[str]) -> None:
    via_proxy, proxy = proxied_db_url
    hub = make_hub(via_proxy, shipped_broker.hub_url, "hub-db-outage")
    wait_hub_online(shipped_broker, "hub-db-outage")
    per_device = 200
    total = per_device * len(devices)
    # 20 devices, 5 readings/s each, for 40 s: the outage falls in the middle of the stream.
    stream = threading.Thread(target=publish_all, args=(devices, per_device),
                              kwargs={"rate_per_device": 5})
    stream.start()
    wait_for(lambda: stored(db_url) > 200, what="the stream to be under way")
    proxy.cut()
    cut_at = stored(db_url)
    time.sleep(OUTAGE_S)
    during = stored(db_url) - cut_at
    published_during = sum(d.acked for d in devices)
    retries = hub.metrics().get("telehub_ingest_db_retries_total", 0)
    proxy.restore()
    stream.join(60)
    wait_for(lambda: stored(db_url) == total, timeout=90,
             what=f"all {total} readings after the outage")
    time.sleep(1.0)
    published = sum(d.acked for d in devices)
    metrics = hub.metrics()
    with capsys.disabled():
        print(f"\ndatabase outage {OUTAGE_S:.0f} s: published {published}, stored "
              f"{stored(db_url)}, duplicated {duplicated(db_url)}, stored during the outage "
              f"{during}, published by then {published_during}, batch retries "
              f"{metrics.get('telehub_ingest_db_retries_total', 0):.0f}, redeliveries "
              f"recognised {metrics.get('telehub_ingest_readings_duplicate_total', 0):.0f}")
    assert during == 0, "readings were stored while the database was unreachable"
    assert retries > 0, "the hub did not notice the outage"
    assert published == total
    assert stored(db_url) == total and duplicated(db_url) == 0
    assert hub.proc is not None and hub.proc.poll() is None, "the hub died"
