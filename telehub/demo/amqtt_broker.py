"""Run the pure-Python amqtt broker on a port: `python -m telehub.demo.amqtt_broker PORT`."""

from __future__ import annotations

import asyncio
import sys


async def _serve(port: int) -> None:
    from amqtt.broker import Broker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    try:
        await asyncio.Event().wait()
    finally:
        await broker.shutdown()


def main() -> None:
    """Serve until interrupted."""
    port = int(sys.argv[1])
    try:
        asyncio.run(_serve(port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
