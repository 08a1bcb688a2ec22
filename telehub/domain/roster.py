"""The caseload file shared by `telehub seed` and the device simulators (TOML).

A caseload says, per patient, which conditions and scenario to simulate, from
when, around which personal baseline, on which measurement schedule, and with
which devices (their ids, kinds and the unit each reports in). It never holds
NHS numbers or names: patients are named by a display key (e.g. "TH-000012").

Example::

    seed = 42

    [[patients]]
    key = "TH-000001"
    conditions = ["heart-failure"]
    scenario = "hf-decompensation"
    scenario_start_days = -2.5        # days relative to the end of the compressed clock
    adherence = 0.95
    baseline = { weight = 84.2, spo2 = 96, pulse = 74 }
    schedule = { weight = { per_day = 1, window = "morning" } }
    devices = [{ device_id = "sc-0001", kind = "scale", unit = "kg" }]

    [[patients]]
    key = "TH-000002"
    conditions = ["copd"]
    scenario = "fall"                 # the fall detector reports a fall at the scenario start
    scenario_start_days = -0.1
    pendant_every_days = 4            # on average a pendant press every 4 days (0: never)
    devices = [{ device_id = "ox-0002", kind = "oximeter", unit = "%" },
               { device_id = "fd-0002", kind = "fall-detector" },
               { device_id = "pd-0002", kind = "pendant" }]

Telecare devices (pendant, fall-detector, smoke, heat, flood, door) send events,
not readings, so they take no unit.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telehub.domain.codes import CONDITIONS, DEVICE_KINDS, DEVICE_METRICS, TELECARE_KINDS
from telehub.domain.units import SPECS, Metric, Unit, parse_unit
from telehub.errors import ValidationError
from telehub.mqtt.topics import DEVICE_ID_PATTERN

SCENARIOS = ("stable", "hf-decompensation", "copd-exacerbation", "hypo-episodes",
             "hyperglycaemia", "nonadherent", "device-offline", "faulty-device", "fall")
# Scenarios that need a device of a given kind to show.
SCENARIO_DEVICE = {"fall": "fall-detector"}
PENDANT_EVERY_MAX_DAYS = 365.0
WINDOWS = ("any", "morning", "evening")


@dataclass(frozen=True)
class DeviceSpec:
    """One simulated device: its MQTT id, its kind and the unit it reports in (None for a
    telecare device, which sends events instead of readings)."""

    device_id: str
    kind: str
    unit: Unit | None

    @property
    def telecare(self) -> bool:
        """True for a device that sends events (fall, pendant, smoke…) rather than readings."""
        return self.kind in TELECARE_KINDS


@dataclass(frozen=True)
class PatientSpec:
    """One simulated patient (no identifying data: `key` is a display id or an index)."""

    key: str
    conditions: tuple[str, ...]
    scenario: str
    devices: tuple[DeviceSpec, ...]
    baseline: Mapping[str, float] = field(default_factory=dict)
    schedule: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    scenario_start_days: float = 0.0   # relative to the end of the compressed clock ("now")
    adherence: float = 0.95            # probability a scheduled reading is taken
    pendant_every_days: float = 0.0    # mean days between pendant presses (0: never)

    def device_for(self, metric: Metric) -> DeviceSpec | None:
        """The device that measures `metric`, if the patient has one."""
        for device in self.devices:
            if metric.value in DEVICE_METRICS[device.kind]:
                return device
        return None


@dataclass(frozen=True)
class Caseload:
    """A seed and the patients to simulate."""

    seed: int
    patients: tuple[PatientSpec, ...]

    def devices(self) -> list[DeviceSpec]:
        """Every device of every patient."""
        return [d for p in self.patients for d in p.devices]


def load_caseload(path: Path) -> Caseload:
    """Read and validate a caseload file; ValidationError says what is wrong and where."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ValidationError("caseload-missing", f"No caseload file at {path}.") from err
    except tomllib.TOMLDecodeError as err:
        raise ValidationError("caseload-syntax", f"{path} is not valid TOML: {err}.") from err
    return parse_caseload(data, source=str(path))


def parse_caseload(data: Mapping[str, Any], source: str = "caseload") -> Caseload:
    """Validate a caseload already read into plain data."""
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValidationError("caseload-invalid", f"{source}: 'seed' must be an integer.")
    raw_patients = data.get("patients")
    if not isinstance(raw_patients, list) or not raw_patients:
        raise ValidationError("caseload-invalid",
                              f"{source}: needs at least one [[patients]] table.")
    patients = tuple(_parse_patient(p, f"{source}: patients[{i}]")
                     for i, p in enumerate(raw_patients))
    _check_unique([p.key for p in patients], "patient key", source)
    _check_unique([d.device_id for p in patients for d in p.devices], "device_id", source)
    return Caseload(seed=seed, patients=patients)


def _check_unique(values: Sequence[str], what: str, source: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValidationError("caseload-invalid", f"{source}: {what} '{value}' appears twice.")
        seen.add(value)


def _invalid(where: str, message: str) -> ValidationError:
    return ValidationError("caseload-invalid", f"{where}: {message}")


def _parse_patient(raw: Any, where: str) -> PatientSpec:
    if not isinstance(raw, Mapping):
        raise _invalid(where, "must be a table.")
    unknown = set(raw) - {"key", "conditions", "scenario", "scenario_start_days", "adherence",
                          "baseline", "schedule", "devices", "pendant_every_days"}
    if unknown:
        raise _invalid(where, f"unknown field(s) {', '.join(sorted(unknown))}.")
    key = raw.get("key")
    if not isinstance(key, str | int) or isinstance(key, bool) or not str(key).strip():
        raise _invalid(where, "'key' (a display id or an index) is required.")
    conditions = raw.get("conditions", [])
    if not isinstance(conditions, list) or any(c not in CONDITIONS for c in conditions):
        raise _invalid(where, f"'conditions' must be a list of {', '.join(CONDITIONS)}.")
    scenario = raw.get("scenario", "stable")
    if scenario not in SCENARIOS:
        raise _invalid(where, f"scenario '{scenario}' is not one of {', '.join(SCENARIOS)}.")
    start = raw.get("scenario_start_days", 0.0)
    if not _is_number(start):
        raise _invalid(where, "'scenario_start_days' must be a number of days.")
    adherence = raw.get("adherence", 0.95)
    if not _is_number(adherence) or not 0.0 <= adherence <= 1.0:
        raise _invalid(where, "'adherence' must be between 0 and 1.")
    devices = raw.get("devices")
    if not isinstance(devices, list) or not devices:
        raise _invalid(where, "needs at least one device.")
    specs = tuple(_parse_device(d, f"{where}.devices[{i}]") for i, d in enumerate(devices))
    kinds = {d.kind for d in specs}
    needed = SCENARIO_DEVICE.get(scenario)
    if needed is not None and needed not in kinds:
        raise _invalid(where, f"scenario '{scenario}' needs a {needed} device.")
    pendant = raw.get("pendant_every_days", 0.0)
    if not _is_number(pendant) or not 0.0 <= pendant <= PENDANT_EVERY_MAX_DAYS:
        raise _invalid(where, "'pendant_every_days' must be a number of days 0–"
                       f"{PENDANT_EVERY_MAX_DAYS:g} (0: never).")
    if pendant and "pendant" not in kinds:
        raise _invalid(where, "'pendant_every_days' needs a pendant device.")
    return PatientSpec(
        key=str(key), conditions=tuple(conditions), scenario=scenario, devices=specs,
        baseline=_parse_baseline(raw.get("baseline", {}), where),
        schedule=_parse_schedule(raw.get("schedule", {}), where),
        scenario_start_days=float(start), adherence=float(adherence),
        pendant_every_days=float(pendant),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_device(raw: Any, where: str) -> DeviceSpec:
    if not isinstance(raw, Mapping):
        raise _invalid(where, "must be a table with device_id, kind and unit.")
    device_id, kind = raw.get("device_id"), raw.get("kind")
    if not isinstance(device_id, str) or not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise _invalid(where, f"device_id '{device_id}' is not a valid device id.")
    if kind not in DEVICE_KINDS:
        raise _invalid(where, f"kind '{kind}' is not one of {', '.join(DEVICE_KINDS)}.")
    if kind in TELECARE_KINDS:
        if raw.get("unit") is not None:
            raise _invalid(where, f"a {kind} is a telecare device: it sends events, not "
                           "readings, and takes no unit.")
        return DeviceSpec(device_id=device_id, kind=kind, unit=None)
    first = Metric(DEVICE_METRICS[kind][0])
    try:
        unit = parse_unit(first, raw.get("unit"))
    except ValidationError as err:
        raise _invalid(where, err.message) from err
    return DeviceSpec(device_id=device_id, kind=kind, unit=unit)


def _parse_baseline(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise _invalid(where, "'baseline' must be a table of metric = value.")
    out: dict[str, float] = {}
    for name, value in raw.items():
        if name not in Metric.__members__.values() or not _is_number(value):
            raise _invalid(where, f"baseline '{name}' must name a metric and give a number.")
        spec = SPECS[Metric(name)]
        if not spec.is_plausible(float(value)):
            raise _invalid(where, f"baseline {name} {value} is outside "
                           f"{spec.plausible_min:g}–{spec.plausible_max:g} {spec.canonical}.")
        out[name] = float(value)
    return out


def _parse_schedule(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        raise _invalid(where, "'schedule' must be a table of metric = {per_day, window}.")
    out: dict[str, dict[str, Any]] = {}
    for name, slot in raw.items():
        if name not in Metric.__members__.values() or not isinstance(slot, Mapping):
            raise _invalid(where, f"schedule '{name}' must name a metric and give a table.")
        per_day = slot.get("per_day", 1)
        if not isinstance(per_day, int) or isinstance(per_day, bool) or not 1 <= per_day <= 8:
            raise _invalid(where, f"schedule {name}.per_day must be a whole number 1–8.")
        window = slot.get("window", "any")
        if window not in WINDOWS:
            raise _invalid(where, f"schedule {name}.window must be one of {', '.join(WINDOWS)}.")
        out[name] = {"per_day": per_day, "window": window}
    return out


def dump_caseload(caseload: Caseload, path: Path) -> None:
    """Write a caseload as TOML that `load_caseload` reads back unchanged."""
    lines = ["# Telehub caseload: scenarios, baselines, schedules and devices to simulate.",
             "# No NHS numbers or names: patients are named by their display id.",
             f"seed = {caseload.seed}", ""]
    for p in caseload.patients:
        lines += [
            "[[patients]]",
            f"key = {_toml(p.key)}",
            f"conditions = {_toml(list(p.conditions))}",
            f"scenario = {_toml(p.scenario)}",
            f"scenario_start_days = {_toml(p.scenario_start_days)}",
            f"adherence = {_toml(p.adherence)}",
            *([f"pendant_every_days = {_toml(p.pendant_every_days)}"]
              if p.pendant_every_days else []),
            f"baseline = {_toml(dict(p.baseline))}",
            f"schedule = {_toml({m: dict(s) for m, s in p.schedule.items()})}",
            "devices = [",
            *(f"  {_toml(_device_fields(d))}," for d in p.devices),
            "]",
            "",
        ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)


def _device_fields(device: DeviceSpec) -> dict[str, str]:
    fields = {"device_id": device.device_id, "kind": device.kind}
    if device.unit is not None:
        fields["unit"] = device.unit.value
    return fields


def _toml(value: Any) -> str:
    """A TOML inline value for the plain types a caseload holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to a caseload")


def _key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else json.dumps(name)
