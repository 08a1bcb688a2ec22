"""A pytest plugin that captures every log record of the whole suite and fails the run if any
contains an NHS number, a registered patient name or a bearer token (issue: health data)."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from telehub.domain.nhs_number import is_valid_nhs_number

# Ten digits, optionally spaced 3-3-4, standing alone: not inside a longer number nor a
# hex word such as an object address (0x7f7677716350) or a generated database name.
_NHS_LIKE = re.compile(r"(?<![0-9A-Za-z])(\d{3}[ -]?\d{3}[ -]?\d{4})(?![0-9A-Za-z])")


class LogGuard(logging.Handler):
    """Keeps every formatted log line, and the secrets tests told it about."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.secrets: set[str] = set()
        self._lock_lines = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"{record.name}: {record.getMessage()}"
            if record.exc_info and record.exc_info[1] is not None:
                line += f" | {record.exc_info[1]!r}"
        except Exception:  # a broken record must not break the suite
            return
        with self._lock_lines:
            self.lines.append(line)

    def register(self, *values: str) -> None:
        """Tell the guard about names and tokens that must never be logged."""
        self.secrets.update(v for v in values if v and len(v) >= 4)

    def findings(self) -> list[str]:
        """Log lines that leak an identifier, each with what leaked."""
        found = []
        for line in self.lines:
            for match in _NHS_LIKE.findall(line):
                if is_valid_nhs_number(match):
                    found.append(f"NHS number in: {line[:200]}")
            for secret in self.secrets:
                if secret in line:
                    found.append(f"registered secret in: {line[:200]}")
        return found


GUARD = LogGuard()
_FINDINGS_DIR = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(GUARD)
    if root.level > logging.DEBUG or root.level == logging.NOTSET:
        root.setLevel(logging.DEBUG)
    if not hasattr(config, "workerinput"):
        # Under pytest-xdist each worker keeps its own guard and leaves its findings here
        # for the controller, which alone decides the run's exit status.
        config.stash[_FINDINGS_DIR] = Path(tempfile.mkdtemp(prefix="telehub-log-guard-"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: tell each worker where to leave its findings."""
    node.workerinput["log_guard_dir"] = str(node.config.stash[_FINDINGS_DIR])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    findings = GUARD.findings()
    workerinput = getattr(session.config, "workerinput", None)
    if workerinput is not None:
        if findings:
            out = Path(workerinput["log_guard_dir"]) / f"{workerinput['workerid']}.txt"
            out.write_text("\n".join(findings), encoding="utf-8")
        return
    folder = session.config.stash.get(_FINDINGS_DIR, None)
    if folder is not None:
        for part in sorted(folder.glob("*.txt")):
            findings += part.read_text(encoding="utf-8").splitlines()
        shutil.rmtree(folder, ignore_errors=True)
    if findings:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"LOG GUARD: {len(findings)} log line(s) leak patient "
                                "identifiers or tokens:", red=True)
            for f in findings[:20]:
                reporter.write_line(f"  {f}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
