"""The clinical safety case (DCB0129): the hazard log as data, its checks, and its report."""

from __future__ import annotations

import ast
import html
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from alerts.catalogue import load_catalogue
from alerts.scenario_book import Scenario, load_book
from telehub.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
HAZARD_LOG = REPO_ROOT / "docs" / "clinical-safety" / "hazard-log.toml"

LIKELIHOODS = ("very low", "low", "medium", "high", "very high")
SEVERITIES = ("minor", "significant", "considerable", "major", "catastrophic")
# The DCB0129 risk matrix: RISK_MATRIX[likelihood][severity] -> risk rating 1–5.
RISK_MATRIX: dict[str, tuple[int, ...]] = {
    "very high": (3, 4, 4, 5, 5),
    "high": (2, 3, 3, 4, 5),
    "medium": (2, 2, 3, 3, 4),
    "low": (1, 2, 2, 3, 4),
    "very low": (1, 1, 2, 2, 3),
}
RISK_WORDS = {1: "acceptable", 2: "acceptable where further reduction is impractical",
              3: "undesirable: needs the CSO's agreement", 4: "unacceptable", 5: "unacceptable"}


@dataclass(frozen=True)
class Rating:
    """A severity and likelihood, and the risk the matrix gives them."""

    severity: str
    likelihood: str

    @property
    def risk(self) -> int:
        """The DCB0129 risk rating, 1 (acceptable) to 5 (unacceptable)."""
        return RISK_MATRIX[self.likelihood][SEVERITIES.index(self.severity)]


@dataclass(frozen=True)
class Control:
    """What keeps a hazard from harming a patient, and the tests that prove it."""

    text: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Hazard:
    """One entry of the hazard log."""

    id: str
    title: str
    description: str
    causes: tuple[str, ...]
    effects: str
    rules: tuple[str, ...]
    initial: Rating
    residual: Rating
    controls: tuple[Control, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class HazardLog:
    """The whole log: which system, which version, its hazards."""

    system: str
    version: str
    hazards: tuple[Hazard, ...]


def _rating(raw: Any, where: str) -> Rating:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a rating is {{ severity = …, likelihood = … }}.")
    severity, likelihood = raw.get("severity"), raw.get("likelihood")
    if severity not in SEVERITIES or likelihood not in LIKELIHOODS:
        raise ConfigError(f"{where}: severity must be one of {', '.join(SEVERITIES)} and "
                          f"likelihood one of {', '.join(LIKELIHOODS)}.")
    return Rating(str(severity), str(likelihood))


def _hazard(raw: dict[str, Any]) -> Hazard:
    where = f"hazard {raw.get('id', '?')}"
    try:
        controls = tuple(Control(str(c["text"]), tuple(str(t) for t in c.get("tests", ())))
                         for c in raw.get("control", ()))
        return Hazard(id=str(raw["id"]), title=str(raw["title"]),
                      description=str(raw["description"]),
                      causes=tuple(str(c) for c in raw.get("causes", ())),
                      effects=str(raw["effects"]),
                      rules=tuple(str(r) for r in raw.get("rules", ())),
                      initial=_rating(raw.get("initial"), f"{where} initial"),
                      residual=_rating(raw.get("residual"), f"{where} residual"),
                      controls=controls)
    except KeyError as err:
        raise ConfigError(f"{where} has no '{err.args[0]}'.") from err


def load_hazard_log(path: Path = HAZARD_LOG) -> HazardLog:
    """Read and check the shape of the hazard log (TOML)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read the hazard log {path}: {err}") from err
    hazards = tuple(_hazard(h) for h in data.get("hazard", ()))
    ids = [h.id for h in hazards]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ConfigError(f"hazard ids used twice: {', '.join(doubled)}")
    return HazardLog(str(data.get("system", "Telehub")), str(data.get("version", "")), hazards)


def _test_functions(path: Path) -> set[str]:
    """The names of the test functions defined at the top level of a test module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test")}


def missing_tests(log: HazardLog, root: Path = REPO_ROOT) -> list[str]:
    """Each `hazard: test id` whose test file or function does not exist."""
    found: dict[str, set[str]] = {}
    out = []
    for hazard in log.hazards:
        for control in hazard.controls:
            for node in control.tests:
                file, _, name = node.partition("::")
                name = name.split("[", 1)[0]
                path = root / file
                if file not in found:
                    found[file] = _test_functions(path) if path.is_file() else set()
                if not name or name not in found[file]:
                    out.append(f"{hazard.id}: {node}")
    return out


def problems(log: HazardLog, rule_ids: Iterable[str], root: Path = REPO_ROOT) -> list[str]:
    """Everything that makes the safety case untrue: missing tests, rules without a hazard,
    controls without tests, residual risks above initial, unknown rules."""
    rule_ids = set(rule_ids)
    covered = {r for h in log.hazards for r in h.rules}
    out = missing_tests(log, root)
    out += [f"rule {r} has no hazard" for r in sorted(rule_ids - covered)]
    out += [f"{h.id} names unknown rule {r}" for h in log.hazards for r in h.rules
            if r not in rule_ids]
    out += [f"{h.id}: a control without a test ({c.text[:40]}…)" for h in log.hazards
            for c in h.controls if not c.tests]
    out += [f"{h.id} has no control" for h in log.hazards if not h.controls]
    out += [f"{h.id}: residual risk {h.residual.risk} above initial {h.initial.risk}"
            for h in log.hazards if h.residual.risk > h.initial.risk]
    return out


def _rating_text(r: Rating) -> str:
    return f"{r.risk} ({r.severity}, {r.likelihood}: {RISK_WORDS[r.risk]})"


def render_markdown(log: HazardLog, issues: Sequence[str] = (),
                    scenarios: Sequence[Scenario] = ()) -> str:
    """The safety case report: a summary table, each hazard with its controls and tests, then
    the clinical scenario book and the behaviours chosen where the rules are silent."""
    lines = [f"# Clinical safety case report: {log.system}", "",
             f"Hazard log version {log.version}; {len(log.hazards)} hazards; ratings on the "
             "DCB0129 matrix (1 acceptable … 5 unacceptable).", ""]
    if issues:
        lines += ["**The log does not hold:**", "", *[f"- {i}" for i in issues], ""]
    lines += ["| hazard | initial risk | residual risk | controls | tests |",
              "| --- | :-: | :-: | :-: | :-: |"]
    for h in log.hazards:
        tests = sum(len(c.tests) for c in h.controls)
        lines.append(f"| {h.id} {h.title} | {h.initial.risk} | {h.residual.risk} | "
                     f"{len(h.controls)} | {tests} |")
    for h in log.hazards:
        lines += ["", f"## {h.id} {h.title}", "", h.description, "", "Causes:", "",
                  *[f"- {c}" for c in h.causes], "", f"Effects: {h.effects}", "",
                  f"Initial risk: {_rating_text(h.initial)}.",
                  f"Residual risk: {_rating_text(h.residual)}."]
        if h.rules:
            lines += ["", "Catalogue rules: " + ", ".join(f"`{r}`" for r in h.rules) + "."]
        lines += ["", "Controls:", ""]
        for c in h.controls:
            lines.append(f"- {c.text}")
            lines += [f"  - `{t}`" for t in c.tests]
    if scenarios:
        lines += _scenario_book(scenarios)
    return "\n".join(lines) + "\n"


def _scenario_book(scenarios: Sequence[Scenario]) -> list[str]:
    """The scenario book as a table a clinician can check, and its decided behaviours."""
    lines = ["", "## Clinical scenario book", "",
             f"{len(scenarios)} scenarios (docs/clinical-safety/scenarios), each run over the "
             "broker and hub at six hours of the London day by "
             "`tests/alerts/test_scenario_book.py`; any other alert fails the scenario.", "",
             "| scenario | what happens | alerts expected |", "| --- | --- | --- |"]
    for sc in scenarios:
        expected = ", ".join(f"{e.rule} {e.severity}" + (" (late)" if e.late else "")
                             for e in sc.expect) or "none"
        lines.append(f"| {sc.id} | {sc.title.replace('|', '/')} | {expected} |")
    decided = [sc for sc in scenarios if sc.decided]
    if decided:
        lines += ["", "Decided where CLINICAL_RULES.md is silent:", "",
                  *[f"- {sc.id}: {sc.decided}" for sc in decided]]
    return lines


def render_html(markdown: str) -> str:
    """A plain HTML page of the report (headings, lists, tables), every text escaped."""
    body: list[str] = []
    in_list = in_table = False
    for line in markdown.splitlines():
        text = html.escape(line.strip())
        if in_list and not line.lstrip().startswith("- "):
            body.append("</ul>")
            in_list = False
        if in_table and not line.startswith("|"):
            body.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line.lstrip().startswith("- "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li>{html.escape(line.lstrip()[2:]).replace('`', '')}</li>")
        elif line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        elif text:
            body.append(f"<p>{text}</p>")
    body += ["</ul>"] if in_list else []
    body += ["</table>"] if in_table else []
    return ("<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
            "<title>Telehub clinical safety case</title></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


safety_app = typer.Typer(help="The clinical safety case (DCB0129).", no_args_is_help=True)
_LOG_OPTION = typer.Option(HAZARD_LOG, "--log", help="The hazard log (TOML).")
_OUT_OPTION = typer.Option(None, "--out", help="Write here, not to standard output.")


@safety_app.command("report")
def report(log_path: Path = _LOG_OPTION,
           fmt: str = typer.Option("md", "--format", help="md or html."),
           out: Path | None = _OUT_OPTION) -> None:
    """Render the safety case report from the hazard log; exit 1 if the log does not hold."""
    if fmt not in ("md", "html"):
        raise typer.BadParameter("--format is md or html")
    log = load_hazard_log(log_path)
    issues = problems(log, (r.id for r in load_catalogue().rules))
    text = render_markdown(log, issues, load_book())
    text = render_html(text) if fmt == "html" else text
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {out} ({len(log.hazards)} hazards).")
    if issues:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `telehub safety …` to the `telehub` command."""
    app.add_typer(safety_app, name="safety")
