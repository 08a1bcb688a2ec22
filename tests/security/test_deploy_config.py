"""The reference broker configuration in deploy/mosquitto is what `telehub broker config` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from telehub.broker.config import DYNSEC_PLUGIN_PATHS, BrokerConfig, TlsFiles, render_conf

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"

# The paths the reference file documents (Debian's mosquitto package layout).
REFERENCE = BrokerConfig(
    out_dir=Path("/etc/mosquitto/telehub"),
    data_dir=Path("/var/lib/mosquitto"),
    run_as="mosquitto",
    tls=TlsFiles(Path("/etc/mosquitto/certs/ca.pem"), Path("/etc/mosquitto/certs/server.pem"),
                 Path("/etc/mosquitto/certs/server.key")),
    dynsec_plugin=Path(DYNSEC_PLUGIN_PATHS[0]),
)


@pytest.mark.skipif(not Path(DYNSEC_PLUGIN_PATHS[0]).is_file(),
                    reason="Mosquitto's dynamic-security plugin is not installed here")
def test_shipped_conf_is_the_generated_one() -> None:
    shipped = (DEPLOY / "mosquitto.conf").read_text()
    assert shipped == render_conf(REFERENCE)


def test_shipped_conf_keeps_what_protects_readings() -> None:
    lines = set((DEPLOY / "mosquitto.conf").read_text().splitlines())
    assert "allow_anonymous false" in lines
    assert "persistence true" in lines
    queued = next(line for line in lines if line.startswith("max_queued_messages "))
    assert int(queued.split()[1]) >= 100_000     # stock 1,000 drops QoS 1 messages in a burst
    assert "listener 8883" in lines
    # Saved after a bounded number of changes, not on a timer: a crash loses fewer than that.
    assert "autosave_on_changes true" in lines
    saves = next(line for line in lines if line.startswith("autosave_interval "))
    assert int(saves.split()[1]) <= 250
