"""The YAML pre-registration of a study: schema, validation, and the file's hash.

A pre-registration fixes, before any data exist, what is compared and how:
the conditions (engine configurations with a role: positive_control,
negative_control, baseline, treatment), the task and its parameters, the
outcome metrics, the hypotheses (conditions a vs b on one outcome, the
predicted direction, primary or secondary, test, sidedness, alpha, correction
family and method, smallest effect size of interest), the validity criterion
the controls must meet, the sample size (target power, or a fixed n), the
seeds, the stopping rule, the exclusion rules and, listed apart, the
exploratory analyses. ``prereg/synthetic.yaml`` is a complete example.

``load_prereg`` checks everything and raises ``PreregError`` with every
problem as one line naming the field path and, where there is a closed set,
the allowed values. A missing control or validity criterion is a warning
(``Prereg.warnings``), not an error.

``Prereg`` and the records it holds are plain frozen dataclasses of the
parsed fields, with look-ups by name; the functions beside them parse and
validate. The sample size is planned by ``plan`` (which reads the records
through the fields it needs and imports nothing of this module): the parser
asks it for n and for the power warnings while it validates, so a SESOI the
power calculation rejects is one more error line.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hebbian.stats import CORRECTIONS
from hebbian.studies import plan
from hebbian.studies.errors import StudyError
from hebbian.studies.schema import (
    Field,
    at_least,
    join,
    load_yaml,
    open_unit,
    probability,
    read,
    read_bytes,
    text_list,
)
from hebbian.studies.tasks import METRIC_TYPES, Task, get_task, task_names

ROLES = ("positive_control", "negative_control", "baseline", "treatment")
TESTS = ("fisher", "mcnemar", "paired_t", "wilcoxon", "welch_t")
BINARY_TESTS = ("fisher", "mcnemar")
KINDS = ("primary", "secondary")
DIRECTIONS = ("greater", "less")
SIDEDNESS = ("one-sided", "two-sided")


class PreregError(StudyError):
    """A pre-registration that does not validate; ``lines`` holds one message per problem."""


@dataclass(frozen=True)
class Condition:
    """A named engine configuration and its role in the study."""

    name: str
    role: str
    config: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Outcome:
    """An outcome metric the task reports for every trial."""

    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class Hypothesis:
    """Condition ``a`` vs condition ``b`` on ``outcome``; ``direction`` 'greater' predicts a > b."""

    id: str
    statement: str
    kind: str
    a: str
    b: str
    outcome: str
    direction: str
    sidedness: str
    test: str
    alpha: float
    family: str
    method: str
    sesoi: dict[str, float]
    also_fisher: bool = False

    @property
    def primary(self) -> bool:
        return self.kind == "primary"

    @property
    def alternative(self) -> str:
        """The ``alternative`` for hebbian.stats and power: the direction if one-sided."""
        return self.direction if self.sidedness == "one-sided" else "two-sided"


@dataclass(frozen=True)
class Validity:
    """What the controls must show on ``outcome`` before a null may be reported."""

    outcome: str
    positive_min: float
    negative_max: float | None = None
    min_gap: float | None = None


@dataclass(frozen=True)
class Prereg:
    """A validated pre-registration; ``planned_n`` is the number of items every condition runs on.

    ``sha256``, ``source`` and ``raw`` name the file it was read from (empty for parsed data).
    Power at a given n: ``plan.power_of(prereg, hypothesis, n)``.
    """

    id: str
    title: str
    version: int
    task: str
    task_params: dict[str, Any]
    conditions: tuple[Condition, ...]
    outcomes: tuple[Outcome, ...]
    hypotheses: tuple[Hypothesis, ...]
    validity: Validity | None
    target_power: float
    fixed_n: int | None
    planned_n: int
    item_seed: int
    trial_seed: int
    stopping_rule: str
    exclusions: tuple[str, ...]
    exploratory: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    sha256: str = ""
    source: str = ""
    raw: bytes = field(default=b"", repr=False)  # the file's bytes, as hashed

    def condition(self, name: str) -> Condition:
        return next(c for c in self.conditions if c.name == name)

    def outcome(self, name: str) -> Outcome:
        return next(o for o in self.outcomes if o.name == name)

    def role(self, role: str) -> Condition | None:
        """The condition with ``role`` (at most one per control role), or None."""
        return next((c for c in self.conditions if c.role == role), None)

    def family(self, name: str) -> tuple[Hypothesis, ...]:
        return tuple(h for h in self.hypotheses if h.family == name)

    def make_task(self) -> Task:
        """The task built from the study's parameters and item seed."""
        return get_task(self.task)(self.task_params, self.item_seed)


# ------------------------------------------------------------------ schema

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _identifier(value: str) -> str | None:
    return (
        None
        if _ID.fullmatch(value)
        else f"{value!r}: use only letters, digits, '.', '_' and '-' (it names the run directory)"
    )


def _pair(value: list) -> str | None:
    ok = len(value) == 2 and all(isinstance(v, str) for v in value) and value[0] != value[1]
    return None if ok else f"must name two different conditions [a, b], got {value!r}"


TOP = {
    "id": Field("text", check=_identifier),
    "title": Field("text"),
    "version": Field("integer", check=at_least(1)),
    "task": Field("mapping"),
    "conditions": Field("mapping"),
    "outcomes": Field("mapping"),
    "hypotheses": Field("list"),
    "validity": Field("mapping", required=False),
    "sample_size": Field("mapping"),
    "seeds": Field("mapping"),
    "stopping_rule": Field("text"),
    "exclusions": Field("list", required=False, default=[], check=text_list),
    "exploratory": Field("list", required=False, default=[], check=text_list),
}
CONDITION = {
    "role": Field("text", choices=ROLES),
    "description": Field("text", required=False, default=""),
    "config": Field("mapping", required=False, default={}),
}
OUTCOME = {
    "type": Field("text", choices=METRIC_TYPES),
    "description": Field("text", required=False, default=""),
}
HYPOTHESIS = {
    "id": Field("text"),
    "statement": Field("text"),
    "kind": Field("text", choices=KINDS),
    "compare": Field("list", check=_pair),
    "outcome": Field("text"),
    "direction": Field("text", choices=DIRECTIONS),
    "sidedness": Field("text", choices=SIDEDNESS),
    "test": Field("text", choices=TESTS),
    "alpha": Field("number", check=open_unit),
    "correction": Field("mapping", required=False),
    "sesoi": Field("mapping", required=False, default={}),
    "also_fisher": Field("boolean", required=False, default=False),
}
CORRECTION = {"family": Field("text"), "method": Field("text", choices=CORRECTIONS)}
VALIDITY = {
    "outcome": Field("text"),
    "positive_min": Field("number"),
    "negative_max": Field("number", required=False),
    "min_gap": Field("number", required=False),
}
SAMPLE_SIZE = {
    "power": Field("number", check=open_unit),
    "n": Field("integer", required=False, check=at_least(2)),
}
SEEDS = {
    "items": Field("integer", check=at_least(0)),
    "trials": Field("integer", check=at_least(0)),
}


# --------------------------------------------------------------- validation


def _task(value: dict | None, errors: list[str]) -> tuple[str, type[Task] | None, dict]:
    fields = {
        "name": Field("text", choices=task_names()),
        "params": Field("mapping", required=False, default={}),
    }
    spec = read(value, fields, "task", errors) if value is not None else None
    if not spec or "name" not in spec:
        return "", None, {}
    cls = get_task(spec["name"])
    params = spec.get("params")
    if params is not None and cls.params is not None:
        params = read(params, cls.params, "task.params", errors)
    return spec["name"], cls, params or {}


def _conditions(
    value: dict | None, cls: type[Task] | None, errors: list[str]
) -> dict[str, Condition | None]:
    """Every declared condition by name; None for one with an error (its name still counts for references)."""
    conditions: dict[str, Condition | None] = {}
    if value is not None and len(value) < 2:
        errors.append("conditions: declare at least two conditions to compare")
    for name, raw in (value or {}).items():
        path = join("conditions", name)
        conditions[name] = None
        spec = read(raw, CONDITION, path, errors)
        if not spec or "role" not in spec:
            continue
        config = spec.get("config")
        if config is not None and cls is not None and cls.config is not None:
            config = read(config, cls.config, join(path, "config"), errors)
        problem = cls.check_config(config) if config is not None and cls is not None else None
        if problem:
            errors.append(f"{join(path, 'config')}: {problem}")
        elif config is not None:
            conditions[name] = Condition(name, spec["role"], config, spec.get("description", ""))
    for role in ("positive_control", "negative_control"):
        named = [c.name for c in conditions.values() if c and c.role == role]
        for extra in named[1:]:
            errors.append(
                f"conditions.{extra}.role: a second {role} (the first is {named[0]}); give one at most"
            )
    return conditions


def _outcomes(
    value: dict | None, cls: type[Task] | None, errors: list[str]
) -> dict[str, Outcome | None]:
    """Every declared outcome by name; None for one with an error."""
    outcomes: dict[str, Outcome | None] = {}
    if value == {}:
        errors.append("outcomes: declare at least one outcome")
    for name, raw in (value or {}).items():
        path = join("outcomes", name)
        outcomes[name] = None
        spec = read(raw, OUTCOME, path, errors)
        if not spec or "type" not in spec:
            continue
        if cls is not None and name not in cls.metrics:
            errors.append(
                f"{path}: task {cls.name} does not report it; it reports: {', '.join(cls.metrics)}"
            )
        elif cls is not None and cls.metrics[name] != spec["type"]:
            errors.append(f"{path}.type: task {cls.name} reports {name} as {cls.metrics[name]}")
        else:
            outcomes[name] = Outcome(name, spec["type"], spec["description"])
    return outcomes


def _sesoi(spec: dict, test: str, path: str, errors: list[str]) -> dict[str, float] | None:
    allowed = plan.SESOI_KEYS[test]
    sesoi = read(spec, {key: Field("number", required=False) for key in allowed}, path, errors)
    if sesoi is None:
        return None
    sesoi = {k: v for k, v in sesoi.items() if v is not None}
    if "effect" in sesoi and sesoi["effect"] <= 0:
        errors.append(
            f"{path}.effect: must be a positive magnitude (direction sets its sign), got {sesoi['effect']!r}"
        )
        return None
    return sesoi


def _hypothesis(
    raw: Any, path: str, conditions: dict, outcomes: dict, errors: list[str]
) -> Hypothesis | None:
    before = len(errors)
    spec = read(raw, HYPOTHESIS, path, errors)
    if spec is None:
        return None
    for name in spec.get("compare", []):
        if conditions and name not in conditions:
            errors.append(
                f"{path}.compare: {name!r} is not a condition; conditions: {', '.join(conditions)}"
            )
    outcome = outcomes.get(spec.get("outcome"))
    if outcomes and "outcome" in spec and spec["outcome"] not in outcomes:
        errors.append(
            f"{path}.outcome: {spec['outcome']!r} is not an outcome; outcomes: {', '.join(outcomes)}"
        )
    test = spec.get("test")
    if (
        outcome is not None
        and test is not None
        and (test in BINARY_TESTS) != (outcome.type == "binary")
    ):
        allowed = (
            BINARY_TESTS
            if outcome.type == "binary"
            else tuple(t for t in TESTS if t not in BINARY_TESTS)
        )
        errors.append(
            f"{path}.test: {test} does not fit the {outcome.type} outcome {outcome.name}; "
            f"allowed: {', '.join(allowed)}"
        )
    if test == "mcnemar" and spec.get("sidedness") == "one-sided":
        errors.append(f"{path}.sidedness: mcnemar is two-sided only; allowed: two-sided")
    if spec.get("also_fisher") and test not in (None, "mcnemar"):
        errors.append(
            f"{path}.also_fisher: only for test mcnemar (Fisher's exact alongside McNemar)"
        )
    correction = (
        read(spec["correction"], CORRECTION, f"{path}.correction", errors)
        if spec.get("correction")
        else {"family": spec.get("id"), "method": "holm"}
    )
    sesoi = (
        _sesoi(spec["sesoi"], test, f"{path}.sesoi", errors) if "sesoi" in spec and test else None
    )
    if spec.get("kind") == "primary" and spec.get("sesoi") == {}:
        errors.append(
            f"{path}.sesoi: missing; a primary hypothesis needs its smallest effect size of interest "
            f"(it sets n, or the power of a fixed n)"
        )
    if len(errors) > before:
        return None
    a, b = spec["compare"]
    return Hypothesis(
        spec["id"],
        spec["statement"],
        spec["kind"],
        a,
        b,
        spec["outcome"],
        spec["direction"],
        spec["sidedness"],
        test,
        spec["alpha"],
        correction["family"],
        correction["method"],
        sesoi,
        spec["also_fisher"],
    )


def _hypotheses(
    value: list | None, conditions: dict, outcomes: dict, errors: list[str]
) -> list[Hypothesis]:
    if value is None:
        return []
    if not value:
        errors.append("hypotheses: empty; list at least one primary hypothesis")
    parsed = [
        (i, _hypothesis(raw, f"hypotheses[{i}]", conditions, outcomes, errors))
        for i, raw in enumerate(value)
    ]
    parsed = [(i, h) for i, h in parsed if h is not None]
    for hid, count in Counter(h.id for _, h in parsed).items():
        if count > 1:
            errors.append(f"hypotheses: id {hid!r} is used {count} times; ids must be unique")
    first_in_family: dict[str, tuple[int, Hypothesis]] = {}
    for i, h in parsed:
        j, first = first_in_family.setdefault(h.family, (i, h))
        for key in ("method", "alpha"):
            if getattr(h, key) != getattr(first, key):
                errors.append(
                    f"hypotheses[{i}].{'correction.method' if key == 'method' else key}: family "
                    f"{h.family} uses {getattr(first, key)} (hypotheses[{j}]); one {key} per family"
                )
    if parsed and not any(h.primary for _, h in parsed):
        errors.append("hypotheses: none is primary; mark at least one kind: primary")
    return [h for _, h in parsed]


def _validity(
    value: dict | None, conditions: dict, outcomes: dict, errors: list[str]
) -> Validity | None:
    if value is None:
        return None
    before = len(errors)
    spec = read(value, VALIDITY, "validity", errors)
    if spec is None or len(errors) > before:
        return None
    outcome = outcomes.get(spec["outcome"])
    if outcomes and spec["outcome"] not in outcomes:
        errors.append(
            f"validity.outcome: {spec['outcome']!r} is not an outcome; outcomes: {', '.join(outcomes)}"
        )
    roles = {c.role for c in conditions.values() if c}
    known = None not in conditions.values()  # a condition with an error may hold the missing role
    if known and "positive_control" not in roles:
        errors.append("validity: needs a condition with role positive_control")
    for key in ("negative_max", "min_gap"):
        if known and spec[key] is not None and "negative_control" not in roles:
            errors.append(f"validity.{key}: needs a condition with role negative_control")
    for key in ("positive_min", "negative_max"):
        problem = (
            probability(spec[key])
            if outcome and outcome.type == "binary" and spec[key] is not None
            else None
        )
        if problem:
            errors.append(
                f"validity.{key}: {problem} (a rate of the binary outcome {outcome.name})"
            )
    return Validity(spec["outcome"], spec["positive_min"], spec["negative_max"], spec["min_gap"])


def _warnings(prereg: Prereg) -> tuple[str, ...]:
    out = []
    if prereg.role("positive_control") is None:
        out.append(
            "conditions: no positive_control; without one a null cannot be told from a task the model "
            "cannot do at all"
        )
    if prereg.role("negative_control") is None:
        out.append(
            "conditions: no negative_control; without one nothing shows the task needs the evicted "
            "information"
        )
    if prereg.validity is None:
        out.append(
            "validity: not given; the report cannot check the task is valid before reporting a null"
        )
    return (*out, *plan.shortfalls(prereg, prereg.planned_n))


def parse_prereg(data: Any) -> Prereg:
    """Validate parsed YAML; raise PreregError listing every problem, one line each."""
    errors: list[str] = []
    top = read(data, TOP, "", errors)
    if top is None:
        raise PreregError(errors)
    task, cls, params = _task(top.get("task"), errors)
    conditions = _conditions(top.get("conditions"), cls, errors)
    outcomes = _outcomes(top.get("outcomes"), cls, errors)
    hypotheses = _hypotheses(top.get("hypotheses"), conditions, outcomes, errors)
    validity = _validity(top.get("validity"), conditions, outcomes, errors)
    size = (
        read(top["sample_size"], SAMPLE_SIZE, "sample_size", errors)
        if "sample_size" in top
        else None
    )
    seeds = read(top["seeds"], SEEDS, "seeds", errors) if "seeds" in top else None
    n = 0
    if size and "power" in size:
        n = plan.planned_n(hypotheses, size["power"], size.get("n"), errors)
    if errors:
        raise PreregError(errors)
    prereg = Prereg(
        top["id"],
        top["title"],
        top["version"],
        task,
        params,
        tuple(conditions.values()),
        tuple(outcomes.values()),
        tuple(hypotheses),
        validity,
        size["power"],
        size["n"],
        n,
        seeds["items"],
        seeds["trials"],
        top["stopping_rule"],
        tuple(top["exclusions"]),
        tuple(top["exploratory"]),
    )
    return replace(prereg, warnings=_warnings(prereg))


# ------------------------------------------------------------------ loading


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_prereg_bytes(data: bytes, source: str) -> Prereg:
    """Parse and validate a pre-registration's bytes; ``source`` names it in messages."""
    try:
        parsed = load_yaml(data, source)
    except StudyError as e:
        raise PreregError(e.lines) from None
    return replace(parse_prereg(parsed), sha256=sha256(data), source=source, raw=data)


def load_prereg(path: str | Path) -> Prereg:
    """Read, validate and hash a pre-registration file; raise PreregError on any problem."""
    path = Path(path)
    try:
        data = read_bytes(path)
    except StudyError as e:
        raise PreregError(e.lines) from None
    return parse_prereg_bytes(data, path.name)
