"""The hub process loads only what it runs: `telehub hub` (the CLI with every command
registered, then the hub's composition root) imports no web, dashboard, data-frame or
benchmark library. Each would cost the hub resident memory for nothing (bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys

# Libraries of the API, the dashboard, the benchmarks and the webhooks' HTTP client (loaded
# on the first webhook POST), none of which the hub's ingest, rules or scheduler use.
NOT_IN_THE_HUB = ("pandas", "numpy", "scipy", "streamlit", "altair", "pyarrow", "plotly",
                  "fastapi", "starlette", "uvicorn", "httpx", "rich", "pygments", "psutil",
                  "hypothesis", "amqtt")

_PROBE = """
import json, sys
from telehub.cli import register_commands
register_commands()
import ingest.service
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_hub_imports_no_api_dashboard_or_benchmark_library() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          timeout=120, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "ingest" in loaded and "paho" in loaded and "psycopg" in loaded  # the probe ran
    assert sorted(loaded & set(NOT_IN_THE_HUB)) == []
