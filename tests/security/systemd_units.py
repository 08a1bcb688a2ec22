"""Reading the shipped systemd units and environment files, and the settings' real names."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import typer
from pydantic import BaseModel

from telehub.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SHIPPED_TELEHUB = "/opt/telehub/venv/bin/telehub"
SHIPPED_MOSQUITTO = "/usr/sbin/mosquitto"


@dataclass(frozen=True)
class Unit:
    """One unit file: its name and its (section, key, value) lines in order."""

    name: str
    lines: tuple[tuple[str, str, str], ...]

    def values(self, section: str, key: str) -> list[str]:
        """Every value `key` has in `section`, in order (systemd keys may repeat)."""
        return [v for s, k, v in self.lines if s == section and k == key]

    def value(self, section: str, key: str) -> str | None:
        """The last value of `key` in `section` (the one systemd uses), or None."""
        found = self.values(section, key)
        return found[-1] if found else None


def read_unit(path: Path) -> Unit:
    """Parse a unit file (no line continuations: the shipped files use none)."""
    section = ""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {raw!r}"
        assert not value.endswith("\\"), f"{path.name}: continuation lines are not parsed"
        lines.append((section, key.strip(), value.strip()))
    return Unit(path.name, tuple(lines))


def unit_paths() -> list[Path]:
    """The shipped unit files."""
    return sorted([*DEPLOY.glob("*.service"), *DEPLOY.glob("*.target")])


def env_file_paths() -> list[Path]:
    """The shipped environment files."""
    return sorted(DEPLOY.glob("*.env"))


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=VALUE lines of a systemd EnvironmentFile (comments and blanks skipped)."""
    pairs = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a NAME=VALUE line: {raw!r}"
        pairs[name.strip()] = value.strip().strip("'\"")
    return pairs


def unit_environment(unit: Unit, instance: str = "1") -> dict[str, str]:
    """The variables a unit's Environment= lines set, with %i as `instance`."""
    pairs = {}
    for value in unit.values("Service", "Environment"):
        for assignment in shlex.split(value.replace("%i", instance)):
            name, _, val = assignment.partition("=")
            pairs[name] = val
    return pairs


def exec_start(unit: Unit) -> list[str]:
    """The unit's ExecStart command line as words."""
    line = unit.value("Service", "ExecStart")
    assert line, f"{unit.name} has no ExecStart"
    return shlex.split(line.lstrip("-@:+!"))


def setting_env_names(model: type[BaseModel] = Settings, prefix: str = "TELEHUB_") -> set[str]:
    """Every environment variable the settings read: TELEHUB_ + field, sections joined by __."""
    names = set()
    for field_name, field in model.model_fields.items():
        name = f"{prefix}{field_name}".upper()
        names.add(name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= setting_env_names(annotation, f"{name}__")
    return names


def setting_keys(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    """Every key a telehub.toml may hold, sections as dotted paths (alerts.webhook_secret)."""
    keys = set()
    for field_name, field in model.model_fields.items():
        keys.add(prefix + field_name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= setting_keys(annotation, f"{prefix}{field_name}.")
    return keys


def cli_env_names(app: typer.Typer) -> set[str]:
    """The TELEHUB_* variables the CLI's own options read (e.g. TELEHUB_LOG_LEVEL)."""
    import click

    def walk(command: click.Command) -> Iterator[str]:
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            if isinstance(envvar, str):
                yield envvar
            elif envvar:
                yield from envvar
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                yield from walk(sub)

    return {name for name in walk(typer.main.get_command(app)) if name.startswith("TELEHUB_")}


def find_mosquitto() -> str | None:
    """The mosquitto binary here: on PATH or where Debian puts it."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
