"""The rule catalogue: Telehub's default clinical rules, read from `alerts/catalogue.toml`."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from telehub.domain.codes import SEVERITIES, Severity
from telehub.domain.units import Metric
from telehub.errors import ConfigError

T = TypeVar("T")
# Distinct keys a catalogue remembers (metrics × the patients' distinct parameter sets).
_MEMO_MAX = 20_000
CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")
KINDS = ("band", "change", "daily-rise", "above-dry", "baseline-drop", "count", "repeat-reading",
         "quality-count", "outlier", "off-schedule", "missing", "device", "sequence-gap",
         "combined")
# Rules that ask for a better measurement rather than report the patient's state: they
# never count towards combined-amber (CLINICAL_RULES "Lifecycle and noise").
MEASUREMENT_PROMPT_KINDS = frozenset({"repeat-reading", "quality-count", "outlier",
                                      "off-schedule"})
# Severity -> hours during which a resolved alert does not re-open at the same or a
# lower severity (CLINICAL_RULES "Lifecycle and noise"); red is never suppressed.
DEFAULT_SUPPRESS_HOURS: dict[str, int] = {Severity.INFO: 7 * 24, Severity.AMBER: 24,
                                         Severity.RED: 0}


@dataclass(frozen=True)
class Rule:
    """One default rule: what it watches, when it fires, how bad that is and why."""

    id: str
    episode: str
    kind: str
    severity: str
    params: Mapping[str, Any]
    sentence: str
    source: str
    metric: Metric | None = None
    conditions: frozenset[str] = frozenset()
    scale: int | None = None          # NEWS2 SpO2 scale the rule belongs to
    oxygen: bool = False              # applies only to patients on home oxygen
    acute: bool = False               # a late reading raises a review instead
    clears: bool = False              # an in-range reading marks the alert condition-cleared
    unit: str | None = None           # the unit the source states the thresholds in
    night_escalate: bool = False      # one severity higher between 00:00 and 06:00 local
    meter_flag: str | None = None     # a meter's LO / HI reading ("lo", "hi") breaches the rule
    suppress_hours: float | None = None

    @property
    def is_measurement_prompt(self) -> bool:
        """Repeat reading, scale error, check device use, weigh in the morning."""
        return self.kind in MEASUREMENT_PROMPT_KINDS

    @property
    def suppression_hours(self) -> float:
        """How long after a nurse resolves it the episode stays quiet at this severity."""
        if self.severity == Severity.RED:
            return 0.0
        if self.suppress_hours is not None:
            return self.suppress_hours
        return DEFAULT_SUPPRESS_HOURS[self.severity]

    def applies_to(self, conditions: frozenset[str]) -> bool:
        """True when the patient's conditions select this rule."""
        return not self.conditions or bool(self.conditions & conditions)


@dataclass(frozen=True)
class Catalogue:
    """Every default rule, by id, with the episode names."""

    rules: tuple[Rule, ...]
    episodes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {r.id: r for r in self.rules})
        object.__setattr__(self, "_memo", {})

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()`, once per key for this catalogue: what follows from its rules and a
        patient's parameters alone (a metric's lookback), kept for the next batch."""
        memo: dict[Hashable, Any] = self._memo  # type: ignore[attr-defined]
        if key not in memo:
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            memo[key] = compute()
        return memo[key]  # type: ignore[no-any-return]

    def get(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None."""
        by_id: dict[str, Rule] = self._by_id  # type: ignore[attr-defined]
        return by_id.get(rule_id)

    def for_metric(self, metric: Metric) -> tuple[Rule, ...]:
        """Rules evaluated on readings of `metric`."""
        return self.memo(("for-metric", metric),
                         lambda: tuple(r for r in self.rules if r.metric == metric))

    def of_kind(self, kind: str) -> tuple[Rule, ...]:
        """Rules of one kind."""
        return tuple(r for r in self.rules if r.kind == kind)

    def episode_label(self, episode: str) -> str:
        """The words a nurse sees for an episode."""
        return self.episodes.get(episode, episode)


def _rule(raw: Mapping[str, Any], episodes: Mapping[str, str]) -> Rule:
    rid = str(raw.get("id", "?"))
    try:
        rule = Rule(
            id=rid, episode=str(raw.get("episode", rid)), kind=raw["kind"],
            severity=raw["severity"], params=dict(raw.get("params", {})),
            sentence=raw["sentence"], source=raw["source"],
            metric=Metric(raw["metric"]) if raw.get("metric") else None,
            conditions=frozenset(raw.get("conditions", [])), scale=raw.get("scale"),
            oxygen=bool(raw.get("oxygen", False)), acute=bool(raw.get("acute", False)),
            clears=bool(raw.get("clears", False)), unit=raw.get("unit"),
            night_escalate=bool(raw.get("night_escalate", False)),
            meter_flag=raw.get("meter_flag"), suppress_hours=raw.get("suppress_hours"),
        )
    except (KeyError, ValueError) as err:
        raise ConfigError(f"catalogue rule '{rid}' is incomplete or invalid: {err}") from err
    if rule.kind not in KINDS:
        raise ConfigError(f"catalogue rule '{rid}' has unknown kind '{rule.kind}'")
    if rule.severity not in SEVERITIES:
        raise ConfigError(f"catalogue rule '{rid}' has unknown severity '{rule.severity}'")
    if rule.episode not in episodes:
        raise ConfigError(f"catalogue rule '{rid}' names unknown episode '{rule.episode}'")
    return rule


def parse_catalogue(text: str) -> Catalogue:
    """A Catalogue from TOML text (ConfigError when it is malformed)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"rule catalogue is not valid TOML: {err}") from err
    episodes = dict(data.get("episodes", {}))
    rules = tuple(_rule(r, episodes) for r in data.get("rule", []))
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise ConfigError("rule catalogue has duplicate rule ids")
    return Catalogue(rules=rules, episodes=episodes)


@functools.cache
def load_catalogue() -> Catalogue:
    """The shipped catalogue (read once per process)."""
    return parse_catalogue(CATALOGUE_PATH.read_text(encoding="utf-8"))
