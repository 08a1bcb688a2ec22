"""The caseload file: round trip, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from telehub.domain.roster import Caseload, DeviceSpec, PatientSpec, dump_caseload, load_caseload
from telehub.domain.units import Metric, Unit
from telehub.errors import ValidationError

GOOD = """
seed = 3
[[patients]]
key = "TH-000001"
conditions = ["heart-failure"]
scenario = "hf-decompensation"
scenario_start_days = -2.5
baseline = { weight = 84.2 }
schedule = { weight = { per_day = 1, window = "morning" } }
devices = [{ device_id = "sc-0001", kind = "scale", unit = "lb" }]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "caseload.toml"
    path.write_text(text)
    return path


def test_a_caseload_survives_a_round_trip(tmp_path: Path) -> None:
    caseload = Caseload(seed=9, patients=(
        PatientSpec(key="TH-000002", conditions=("copd", "type2-diabetes"),
                    scenario="copd-exacerbation",
                    devices=(DeviceSpec("ox-0002", "oximeter", Unit.PERCENT),
                             DeviceSpec("gm-0002", "glucometer", Unit.MG_DL)),
                    baseline={"spo2": 95.0, "pulse": 70.0, "glucose": 7.1},
                    schedule={"spo2": {"per_day": 2, "window": "any"},
                              "glucose": {"per_day": 2, "window": "any"}},
                    scenario_start_days=-2.25, adherence=0.9),
        PatientSpec(key="TH-000003", conditions=(), scenario="stable",
                    devices=(DeviceSpec("sc-0003", "scale", Unit.STONE),)),
    ))
    path = tmp_path / "out" / "caseload.toml"
    dump_caseload(caseload, path)
    assert load_caseload(path) == caseload


@pytest.mark.parametrize("kind", ["pendant", "fall-detector", "smoke", "heat", "flood", "door"])
def test_every_telecare_kind_loads_without_a_unit_and_survives_a_round_trip(
        tmp_path: Path, kind: str) -> None:
    text = GOOD.replace('{ device_id = "sc-0001", kind = "scale", unit = "lb" }',
                        '{ device_id = "sc-0001", kind = "scale", unit = "lb" }, '
                        f'{{ device_id = "tc-0001", kind = "{kind}" }}')
    caseload = load_caseload(_write(tmp_path, text))
    telecare = caseload.patients[0].devices[1]
    assert (telecare.kind, telecare.unit, telecare.telecare) == (kind, None, True)
    assert caseload.patients[0].device_for(Metric.WEIGHT) == caseload.patients[0].devices[0]
    out = tmp_path / "again.toml"
    dump_caseload(caseload, out)
    assert load_caseload(out) == caseload


def test_a_fall_scenario_with_a_pendant_survives_a_round_trip(tmp_path: Path) -> None:
    caseload = Caseload(seed=4, patients=(
        PatientSpec(key="TH-000009", conditions=("copd",), scenario="fall",
                    devices=(DeviceSpec("ox-0009", "oximeter", Unit.PERCENT),
                             DeviceSpec("fd-0009", "fall-detector", None),
                             DeviceSpec("pd-0009", "pendant", None)),
                    schedule={"spo2": {"per_day": 1, "window": "any"}},
                    scenario_start_days=-0.1, pendant_every_days=5.0),
    ))
    path = tmp_path / "caseload.toml"
    dump_caseload(caseload, path)
    assert "unit" not in path.read_text().split("fd-0009")[1].split("\n")[0]
    assert load_caseload(path) == caseload


def test_a_good_file_loads(tmp_path: Path) -> None:
    caseload = load_caseload(_write(tmp_path, GOOD))
    patient = caseload.patients[0]
    assert caseload.seed == 3 and patient.key == "TH-000001"
    assert patient.devices[0].unit is Unit.LB
    assert patient.schedule["weight"] == {"per_day": 1, "window": "morning"}


@pytest.mark.parametrize(("change", "message"), [
    (('scenario = "hf-decompensation"', 'scenario = "explode"'), "scenario 'explode'"),
    (('unit = "lb"', 'unit = "mg/dL"'), "not an accepted unit for weight"),
    (('kind = "scale"', 'kind = "toaster"'), "kind 'toaster'"),
    (('weight = 84.2 }', 'weight = 999 }'), "outside"),
    (('per_day = 1', 'per_day = 0'), "per_day"),
    (('"heart-failure"]', '"gout"]'), "conditions"),
    (('device_id = "sc-0001"', 'device_id = "bad id/"'), "not a valid device id"),
    (('key = "TH-000001"', 'key = "TH-000001"\nnhs_number = "9990000018"'),
     r"unknown field\(s\) nhs_number"),
    (('kind = "scale", unit = "lb"', 'kind = "pendant", unit = "kg"'),
     "a pendant is a telecare device: it sends events, not readings, and takes no unit"),
    (('scenario = "hf-decompensation"', 'scenario = "fall"'),
     "scenario 'fall' needs a fall-detector device"),
    (('scenario_start_days = -2.5', 'scenario_start_days = -2.5\npendant_every_days = 3'),
     "'pendant_every_days' needs a pendant device"),
    (('scenario_start_days = -2.5', 'scenario_start_days = -2.5\npendant_every_days = -1'),
     "'pendant_every_days' must be a number of days"),
])
def test_bad_files_fail_with_a_clear_error(tmp_path: Path, change: tuple[str, str],
                                           message: str) -> None:
    text = GOOD.replace(*change)
    with pytest.raises(ValidationError, match=message):
        load_caseload(_write(tmp_path, text))


def test_syntax_errors_and_duplicates_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not valid TOML"):
        load_caseload(_write(tmp_path, "seed = = 1"))
    with pytest.raises(ValidationError, match="appears twice"):
        load_caseload(_write(tmp_path, GOOD + GOOD.replace("seed = 3", "")))
    with pytest.raises(ValidationError, match="No caseload file"):
        load_caseload(tmp_path / "missing.toml")


def test_the_shipped_example_caseload_loads_with_every_scenario() -> None:
    from telehub.domain.roster import SCENARIOS

    path = Path(__file__).parents[2] / "device_simulators" / "examples" / "caseload.toml"
    caseload = load_caseload(path)
    assert {p.scenario for p in caseload.patients} == set(SCENARIOS)
