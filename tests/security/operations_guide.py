"""Reading docs/operations.md for the checks in test_operations_guide.py: the `telehub`
command lines it gives, the repository paths, settings and API routes it names, and its
alert sections."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operations.md"
RULES = ROOT / "deploy" / "prometheus" / "telehub-rules.yml"
# The Prometheus rules' names; each has a section whose anchor the rule's runbook_url names.
ALERTS = ("TelehubHubDown", "TelehubIngestBacklog", "TelehubOutboxUndelivered",
          "TelehubNoReadingsFromTeam", "TelehubDatabaseUnreachable",
          "TelehubSignInFailuresSpiking")
# The `telehub` console script of the environment running the tests (the CLI's entry point).
TELEHUB = str(Path(sys.executable).parent / "telehub")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")
_TOP = r"(?:deploy|docs|telehub|alerts|ingest|api|dashboard|device_simulators|tests|bench)"
_REPO_PATH = re.compile(rf"(?<![\w/.@-])({_TOP}/[\w.@/-]*[\w@])")
_INSTALLED_PATH = re.compile(r"/opt/telehub/([\w.@/-]*[\w@])")
_LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")
_SETTING = re.compile(r"\bTELEHUB_[A-Z0-9_]*[A-Z0-9]")
_ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")
_SHELL_BREAKS = {"|", "||", "&&", ";", ">", ">>", "<", "2>"}


@dataclass(frozen=True)
class CommandLine:
    """One `telehub` invocation the guide gives: its words after `telehub`."""

    words: tuple[str, ...]
    text: str


def code_spans(text: str) -> Iterator[str]:
    """Each shell line of the fenced blocks (continuations joined) and each inline code span."""
    for block in _FENCE.findall(text):
        yield from block.replace("\\\n", " ").splitlines()
    outside = _FENCE.sub("", text)
    for span in _INLINE.findall(outside):
        yield " ".join(span.split())


def command_lines(text: str) -> list[CommandLine]:
    """Every `telehub …` command line: `telehub` where a command starts (a line's first
    word, or after a shell operator), or a path ending in /bin/telehub anywhere, and what
    follows it up to the next shell operator. (`createdb --owner telehub telehub` names the
    role and the database, not the command.)"""
    found = []
    for span in code_spans(text):
        try:
            words = shlex.split(span, comments=True)
        except ValueError:
            continue
        for k, word in enumerate(words):
            starts = k == 0 or words[k - 1] in _SHELL_BREAKS
            if (word == "telehub" and starts) or word.endswith("/bin/telehub"):
                rest = []
                for w in words[k + 1:]:
                    if w in _SHELL_BREAKS or w.startswith(("|", ">")):
                        break
                    rest.append(w)
                if "…" not in rest and "..." not in rest:
                    found.append(CommandLine(tuple(rest), span))
    return found


@functools.cache
def telehub_help(path: tuple[str, ...]) -> tuple[int, str]:
    """`telehub <path> --help` through the CLI's entry point: exit code and output (one
    long line per option, whatever the terminal)."""
    env = {**os.environ, "COLUMNS": "300", "TERM": "dumb"}
    done = subprocess.run([TELEHUB, *path, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False, env=env)
    return done.returncode, done.stdout + done.stderr


def _is_group(help_text: str) -> bool:
    return re.search(r"^\W*Commands\W", help_text, re.MULTILINE) is not None


def command_problems(line: CommandLine) -> list[str]:
    """What is wrong with one command line: an unknown command, or an option its command
    does not take."""
    path: list[str] = []
    for word in line.words:
        if word.startswith("-"):
            break
        code, text = telehub_help(tuple(path))
        if code != 0 or not _is_group(text):
            break
        path.append(word)
    code, text = telehub_help(tuple(path))
    usage = "Usage: telehub " + " ".join(path)
    if code != 0 or usage.rstrip() not in " ".join(text.split()):
        return [f"`telehub {' '.join(path)}` is not a command ({line.text})"]
    out = []
    for word in line.words:
        option = word.split("=", 1)[0]
        if option.startswith("--") and not re.search(
                rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
            out.append(f"`telehub {' '.join(path)}` takes no {option} ({line.text})")
    return out


def _exists(relative: str, *, prometheus_pending: bool) -> bool:
    if (ROOT / relative).exists():
        return True
    # deploy/prometheus is written beside this guide; until it lands its paths may be named.
    return prometheus_pending and relative.startswith("deploy/prometheus/")


def path_problems(text: str, guide: Path = GUIDE) -> list[str]:
    """Repository paths (plain, under /opt/telehub, or as links) that do not exist."""
    pending = not RULES.parent.exists()
    named = set(_REPO_PATH.findall(text))
    named |= {p for p in _INSTALLED_PATH.findall(text) if not p.startswith("venv")}
    out = [f"{p} does not exist" for p in sorted(named)
           if not _exists(p, prometheus_pending=pending)]
    anchors = heading_anchors(text)
    for target, anchor in _LINK.findall(text):
        if target and not (guide.parent / target).exists():
            out.append(f"link {target} does not exist")
        if not target and anchor and anchor not in anchors:
            out.append(f"link #{anchor} names no heading")
    return out


def setting_problems(text: str, known: Iterable[str]) -> list[str]:
    """Settings the guide names that no setting or CLI option reads."""
    known = set(known)
    return [f"{name} is not a setting" for name in sorted(set(_SETTING.findall(text)))
            if name not in known and not name.endswith("__")]


def route_problems(text: str, routes: Iterable[tuple[str, str]]) -> list[str]:
    """API routes the guide names (`POST /devices/{id}/credentials`) that the API lacks."""
    shapes = {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path in routes}
    return [f"{method} {path} is not an API route" for method, path in _ROUTE.findall(text)
            if (method, re.sub(r"\{[^}]+\}", "{}", path)) not in shapes]


def heading_anchors(text: str) -> set[str]:
    """The anchors of the guide's headings, as GitHub makes them."""
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _FENCE.sub("", text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def alert_problems(text: str, rules: Path | None = RULES) -> list[str]:
    """Alerts without a section of their own (`### Name`), and rules whose runbook_url
    names an anchor the guide lacks (once the rules file exists)."""
    sections = set(re.findall(r"^### (Telehub\w+)\s*$", text, re.MULTILINE))
    out = [f"alert {name} has no section" for name in ALERTS if name not in sections]
    if rules is None or not rules.exists():
        return out
    import yaml

    anchors = heading_anchors(text)
    data = yaml.safe_load(rules.read_text(encoding="utf-8"))
    for group in data.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert")
            if name is None:
                continue
            if name not in sections:
                out.append(f"alert {name} of {rules.name} has no section")
            url = str(rule.get("annotations", {}).get("runbook_url", ""))
            page, _, anchor = url.partition("#")
            if not page.endswith("docs/operations.md") or anchor != name.lower() \
                    or anchor not in anchors:
                out.append(f"alert {name}'s runbook_url {url!r} is not its section here")
    return out
