"""The markdown report of a study run, written from the run directory alone.

It reads the frozen pre-registration, the run record and the trial log, and
writes the pre-registration summary and hash; planned vs achieved n and
power; the control (validity) check; one section per hypothesis with the
per-condition table, the pre-registered test, its family-corrected p, effect
sizes with CIs and the decision; for a task that generates, each condition's
degenerate-reply rate, rep-4 and distinct-2 with CIs and quoted replies; figures; deviations; and the software
versions, git revision and seeds. The same trials always give the same text.

Decisions are withheld, and the report says so in bold at the top, for a
smoke run, an unfinished run, and a run whose positive control fails its
validity criterion (then the task is invalid, which is not a null result).
A rejection is always stated with the corrected p that backs it.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from hebbian.io import markdown
from hebbian.io.files import write_atomic
from hebbian.stats import EffectSize, TestResult
from hebbian.studies import analysis, plan, plots, power, rundir
from hebbian.studies.errors import StudyError
from hebbian.studies.prereg import Hypothesis, Prereg, parse_prereg_bytes
from hebbian.studies.tasks import get_task
from hebbian.studies.trials import read_trials

TEST_NAMES = {
    "mcnemar_exact": "McNemar (exact)",
    "fisher_exact": "Fisher's exact",
    "paired_t": "paired t",
    "wilcoxon": "Wilcoxon signed-rank",
    "welch_t": "Welch t",
}


# A statistic that is 0/0 for the data, e.g. Fisher's odds ratio when neither condition has a success.
UNDEFINED = "undefined (0/0)"


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _effect(e: EffectSize | None) -> str:
    if e is None:
        return "n/a"
    if math.isnan(e.value):
        return f"{e.name} {UNDEFINED}"
    ci = f" [{e.ci_low:.3g}, {e.ci_high:.3g}]" if e.ci_low is not None else ""
    return f"{e.name} {e.value:.3g}{ci}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return [*markdown.table(header, rows).split("\n"), ""]


def _sesoi(h: Hypothesis) -> str:
    if not h.sesoi:
        return "none given"
    name = power.DESIGNS[h.test].effect_name
    return ", ".join(
        f"{name} = {v:g}" if k == "effect" else f"{k} = {v:g}" for k, v in h.sesoi.items()
    )


class _Run:
    """Everything one report is written from."""

    def __init__(self, run_dir: Path):
        self.meta = rundir.read_meta(run_dir)
        frozen = run_dir / rundir.FROZEN
        if self.meta is None or not frozen.exists():
            raise StudyError(
                f"{run_dir}: not a study run directory (no {rundir.META} or {rundir.FROZEN})"
            )
        self.prereg: Prereg = parse_prereg_bytes(frozen.read_bytes(), self.meta["prereg_source"])
        self.records, _ = read_trials(run_dir / rundir.TRIALS)
        self.outcomes = analysis.align(self.prereg, self.records, self.meta["target_n"])
        self.inferences = analysis.decide(self.prereg, self.outcomes)
        self.descriptions = {
            h.id: analysis.describe(self.prereg, self.outcomes, h) for h in self.prereg.hypotheses
        }
        self.validity = analysis.check_validity(self.prereg, self.outcomes)
        self.fluency = analysis.fluency(self.prereg, self.records, self.outcomes)
        self.analysed = self.outcomes.n + len(self.outcomes.excluded)

    @property
    def withheld(self) -> str | None:
        """Why no hypothesis is decided, or None."""
        if self.meta["smoke"]:
            return "smoke run"
        if self.analysed < self.meta["target_n"]:
            return "unfinished run"
        if self.validity.passed is False:
            return "the task is invalid: the positive control failed its validity criterion"
        return None

    def underpowered(self) -> list[str]:
        out = []
        for h in self.prereg.hypotheses:
            got = plan.power_of(self.prereg, h, self.outcomes.n)
            if h.primary and (got.power is None or got.power < self.prereg.target_power):
                out.append(f"{h.id} has power {_num(got.power, 2)} at n = {self.outcomes.n}")
        return out


def _banners(run: _Run) -> list[str]:
    p, m = run.prereg, run.meta
    lines = []
    if m["smoke"]:
        lines.append(
            f"**SMOKE RUN (--limit {m['limit']}): {m['target_n']} of {m['planned_n']} planned items, a check "
            f"of the pipeline only. No result is claimed and no hypothesis is decided.**"
        )
    elif run.analysed < m["target_n"]:
        lines.append(
            f"**UNFINISHED RUN: {run.analysed} of {m['target_n']} planned items are recorded under every "
            f"condition. This is not the pre-registered analysis and no hypothesis is decided; rerun "
            f"`hebbian study` to resume.**"
        )
    if run.validity.passed is False:
        lines.append(
            "**THE TASK IS INVALID: the positive control failed its pre-registered validity criterion "
            "(see Controls). No hypothesis is decided: a null here would say nothing about the "
            "treatments.**"
        )
    weak = run.underpowered()
    if weak and not m["smoke"] and run.analysed >= m["target_n"]:
        lines.append(
            f"**UNDERPOWERED: {'; '.join(weak)} (target {p.target_power:.2f}) to detect its smallest "
            f"effect of interest. A non-rejection is not evidence of no effect.**"
        )
    if m["deviations"]:
        lines.append(
            f"**This run deviates from its pre-registration ({len(m['deviations'])} deviation(s); see "
            f"Deviations).**"
        )
    return [line + "\n" for line in lines]


def _preregistration(p: Prereg) -> list[str]:
    lines = [
        "## Pre-registration",
        "",
        f"- file: `{p.source}`, version {p.version}, sha256 `{p.sha256}` (frozen in the run directory)",
        f"- task: `{p.task}` with parameters `{json.dumps(p.task_params, sort_keys=True)}`",
        "- outcomes: "
        + "; ".join(f"`{o.name}` ({o.type}) {o.description}".strip() for o in p.outcomes),
        f"- stopping rule: {p.stopping_rule}",
        f"- seeds: items {p.item_seed}, trials {p.trial_seed} (each trial's own seed is in trials.jsonl)",
        "",
    ]
    lines += _table(
        ["condition", "role", "description", "config"],
        [
            (f"`{c.name}`", c.role, c.description, f"`{json.dumps(c.config, sort_keys=True)}`")
            for c in p.conditions
        ],
    )
    lines += _table(
        [
            "hypothesis",
            "kind",
            "a vs b",
            "outcome",
            "predicted",
            "test",
            "alpha",
            "family (method)",
            "SESOI",
        ],
        [
            (
                h.id,
                h.kind,
                f"`{h.a}` vs `{h.b}`",
                h.outcome,
                f"a {'>' if h.direction == 'greater' else '<'} b",
                f"{h.test}, {h.sidedness}",
                f"{h.alpha:g}",
                f"{h.family} ({h.method})",
                _sesoi(h),
            )
            for h in p.hypotheses
        ],
    )
    lines += ["Exclusion rules:", ""] + [f"- {e}" for e in p.exclusions or ["none"]] + [""]
    if p.warnings:
        lines += ["Validation warnings:", ""] + [f"- {w}" for w in p.warnings] + [""]
    return lines


def _sample_size(run: _Run) -> list[str]:
    p, m, o = run.prereg, run.meta, run.outcomes
    how = (
        "fixed in the pre-registration"
        if p.fixed_n is not None
        else f"the largest n a primary hypothesis needs for power {p.target_power:.2f} at its SESOI"
    )
    lines = [
        "## Sample size and power",
        "",
        f"- planned: {m['planned_n']} items, every condition on every item ({how})",
        f"- this run: {m['target_n']} items{' (smoke run)' if m['smoke'] else ''}; analysed {o.n} complete "
        f"items, {len(o.excluded)} excluded, {o.incomplete} incomplete",
        *[
            f"- excluded {count}: {reason}"
            for reason, count in Counter(o.excluded.values()).items()
        ],
        "- power is planned at alpha / (hypotheses in the family), exact for Bonferroni and conservative "
        "for Holm and BH",
        "",
    ]
    rows = []
    for h in p.hypotheses:
        planned, got = plan.power_of(p, h, m["planned_n"]), plan.power_of(p, h, o.n)
        rows.append(
            (
                h.id,
                h.kind,
                h.test,
                _sesoi(h),
                f"{planned.alpha:.4g}",
                planned.n_needed or "n/a",
                _num(planned.power),
                _num(got.power),
                "n/a"
                if got.mde is None
                else f"{power.DESIGNS[h.test].effect_name} = {got.mde:.3f}",
            )
        )
    lines += _table(
        [
            "hypothesis",
            "kind",
            "test",
            "SESOI",
            "planning alpha",
            "n needed",
            "power at planned n",
            f"power at n = {o.n}",
            f"MDE at n = {o.n}",
        ],
        rows,
    )
    designs = dict.fromkeys(power.DESIGNS[h.test] for h in p.hypotheses)
    return lines + [f"- {d.label}: {d.note}" for d in designs if d.note] + [""]


def _controls(run: _Run) -> list[str]:
    verdict = {
        True: "valid: the controls meet the pre-registered criterion",
        False: "**invalid: the controls fail the pre-registered criterion**",
        None: "not checked",
    }[run.validity.passed]
    return (
        ["## Controls", "", f"Task validity: {verdict}.", ""]
        + [f"- {line}" for line in run.validity.lines]
        + [""]
    )


def _decision(inf: analysis.Inference, withheld: str | None) -> str:
    h = inf.hypothesis
    if withheld:
        return f"no decision ({withheld})"
    if inf.result is None:
        return f"no decision: {inf.note}"
    if not inf.reject:
        return f"did not reject H0 (corrected p = {_p(inf.p_corrected)}, alpha {h.alpha:g})"
    text = f"rejected H0 at corrected p = {_p(inf.p_corrected)} ({h.method} in family {h.family}, alpha {h.alpha:g})"
    if h.sidedness == "two-sided" and inf.observed != h.direction:
        return (
            text
            + "; the difference points against the predicted direction, so the hypothesis is not supported"
        )
    return text


def _test_row(label: str, r: TestResult, p_corrected: str) -> tuple:
    statistic = UNDEFINED if math.isnan(r.statistic) else f"{r.statistic:.4g}"
    return (
        label,
        TEST_NAMES.get(r.test, r.test),
        statistic,
        _p(r.p_value),
        p_corrected,
        _effect(r.effect),
    )


def _hypothesis(run: _Run, inf: analysis.Inference) -> list[str]:
    h, p = inf.hypothesis, run.prereg
    desc = run.descriptions[h.id]
    binary = p.outcome(h.outcome).type == "binary"
    lines = [
        f"### {h.id} ({h.kind}): {h.statement}",
        "",
        f"`{h.a}` (a) vs `{h.b}` (b) on `{h.outcome}`; predicted a {'>' if h.direction == 'greater' else '<'} b; "
        f"{h.test}, {h.sidedness}, alpha {h.alpha:g}; family `{h.family}` ({h.method}, "
        f"{len(p.family(h.family))} hypotheses).",
        "",
    ]
    summaries = {s.condition: s for s in analysis.summarize(p, run.outcomes, h.outcome)}
    rows = []
    for name in (h.a, h.b):
        s = summaries[name]
        ci = f"[{s.ci[0]:.3f}, {s.ci[1]:.3f}]" if s.ci else "n/a"
        rows.append(
            (f"`{name}`", s.role, s.n, *([s.successes] if binary else []), _num(s.mean), ci)
        )
    lines += _table(
        [
            "condition",
            "role",
            "n",
            *([h.outcome] if binary else []),
            "rate" if binary else "mean",
            "95% CI (Wilson)" if binary else "95% CI (t)",
        ],
        rows,
    )
    tests = []
    if inf.result is not None:
        tests.append(_test_row("pre-registered", inf.result, _p(inf.p_corrected)))
    if desc.fisher is not None:
        tests.append(_test_row("alongside (ignores pairing; not decisive)", desc.fisher, "n/a"))
    if tests:
        lines += _table(
            ["role", "test", "statistic", "p", "corrected p", "effect size (95% CI)"], tests
        )
    d = desc.difference
    lines.append(
        f"- paired difference ({'rate' if binary else 'mean'} of a - b): "
        + (
            f"{d.value:.3g} [{d.ci_low:.3g}, {d.ci_high:.3g}] (95% BCa bootstrap CI)"
            if d
            else "no CI (fewer than 2 items, or every difference equal)"
        )
    )
    if desc.cohens_h is not None:
        lines.append(f"- {_effect(desc.cohens_h)} (CI treats the rates as independent)")
    if inf.result is not None and "a_only" in inf.result.extra:
        extra = inf.result.extra
        lines.append(f"- discordant pairs: a only {extra['a_only']:g}, b only {extra['b_only']:g}")
    return lines + [f"- **decision: {_decision(inf, run.withheld)}**", ""]


def _ci(s: analysis.Summary) -> str:
    return f"[{s.ci[0]:.3f}, {s.ci[1]:.3f}]" if s.ci else "n/a"


def quote_reply(text: str, limit: int = 160) -> str:
    """A reply as a quoted one-line code span, newlines and tabs escaped (so "\\n\\n\\n" shows), cut at ``limit``."""
    cut = json.dumps(text[:limit], ensure_ascii=False)
    return f"`` {cut} ``" + (f" ... ({len(text)} characters)" if len(text) > limit else "")


def _fluency(run: _Run) -> list[str]:
    lines = ["## Fluency of the replies", ""]
    if not run.fluency:
        if "degenerate" in get_task(run.prereg.task).metrics:
            lines += [
                "Not recorded: these trials predate the fluency outcomes, so this report cannot say whether "
                "the replies were fluent.",
                "",
            ]
            return lines
        return []
    lines += [
        "Each greedy reply of an analysed item (`hebbian.studies.fluency`): degenerate when empty, whitespace "
        "only, or more than half of its 4-grams repeat earlier ones; rep-4 is that share, distinct-2 the "
        "share of distinct word bigrams. Descriptive unless a hypothesis above names them.",
        "",
    ]
    rows = []
    for name, f in run.fluency.items():
        d, r, t = f.degenerate, f.rep4, f.distinct2
        rows.append(
            (
                f"`{name}`",
                d.role,
                d.n,
                "n/a" if d.successes is None else d.successes,
                _num(d.mean),
                _ci(d),
                _num(r.mean),
                _ci(r),
                _num(t.mean),
                _ci(t),
            )
        )
    lines += _table(
        [
            "condition",
            "role",
            "n",
            "degenerate",
            "rate",
            "95% CI (Wilson)",
            "mean rep-4",
            "95% CI (t)",
            "mean distinct-2",
            "95% CI (t)",
        ],
        rows,
    )
    examples = [(name, f.examples) for name, f in run.fluency.items() if f.examples]
    if not examples:
        return lines + ["The trials do not record the replies' text.", ""]
    lines += ["Example replies (the first analysed items of each condition, JSON-quoted):", ""]
    for name, replies in examples:
        lines += [f"- `{name}`, {item}: {quote_reply(reply)}" for item, reply in replies]
    return lines + [""]


def _figures(run: _Run, folder: Path, relative_to: Path) -> list[str]:
    p = run.prereg
    if run.outcomes.n == 0:
        return ["## Figures", "", "No complete items yet; no figures.", ""]
    folder.mkdir(parents=True, exist_ok=True)
    metrics = dict.fromkeys(
        [h.outcome for h in p.hypotheses] + ([p.validity.outcome] if p.validity else [])
    )
    lines = ["## Figures", ""]
    for metric in metrics:
        binary = p.outcome(metric).type == "binary"
        paths = [
            plots.conditions_figure(
                analysis.summarize(p, run.outcomes, metric),
                metric,
                binary,
                folder / f"conditions-{metric}.png",
            )
        ]
        hyps = [h for h in p.hypotheses if h.outcome == metric]
        if hyps:
            paths.append(
                plots.differences_figure(
                    [f"{h.id}: {h.a} - {h.b}" for h in hyps],
                    [run.descriptions[h.id].difference for h in hyps],
                    metric,
                    folder / f"differences-{metric}.png",
                )
            )
        lines += [
            f"![{path.stem}]({Path(os.path.relpath(path, relative_to)).as_posix()})"
            for path in paths
        ] + [""]
    return lines


def _deviations(meta: dict) -> list[str]:
    lines = ["## Deviations", ""]
    if not meta["deviations"]:
        return lines + ["None recorded.", ""]
    for d in meta["deviations"]:
        lines += [
            f"- {d['at']}, after {d['trials_before']} trials: {d['reason']} (prereg sha256 "
            f"{d['from_sha256'][:12]} -> {d['to_sha256'][:12]})"
        ]
        if d["diff"]:
            lines += ["", "```diff", d["diff"].rstrip("\n"), "```"]
    return lines + [
        "",
        "Trials recorded before a deviation are kept and analysed with those after it.",
        "",
    ]


def _reproducibility(run: _Run) -> list[str]:
    sessions = run.meta["sessions"]
    lines = ["## Software and reproducibility", ""]
    for key in ("git", "python", "platform"):
        values = list(dict.fromkeys(s[key] for s in sessions))
        lines.append(f"- {key}: {' then '.join(values)}")
    versions = []
    for s in sessions:
        if s["versions"] not in versions:
            versions.append(s["versions"])
    lines += [
        "- packages: " + ", ".join(f"{k} {v}" for k, v in sorted(vs.items())) for vs in versions
    ]
    if len(versions) > 1:
        lines.append("- **the run spans more than one set of package versions (listed in order)**")
    return lines + [
        f"- seeds: items {run.prereg.item_seed}, trials {run.prereg.trial_seed}; "
        f"{len(run.records)} trial records",
        "",
    ]


def _render(run: _Run, figures_dir: Path, report_dir: Path) -> str:
    """The whole report as markdown; figures are drawn into ``figures_dir`` and linked relative to ``report_dir``."""
    p = run.prereg
    lines = [
        f"# Study report: {p.title}",
        "",
        f"Study `{p.id}` version {p.version}, pre-registration sha256 `{p.sha256}`.",
        "",
    ]
    lines += _banners(run) + _preregistration(p) + _sample_size(run) + _controls(run)
    lines += ["## Hypotheses", ""]
    for inf in run.inferences:
        lines += _hypothesis(run, inf)
    lines += _fluency(run) + _figures(run, figures_dir, report_dir)
    lines += [
        "## Exploratory analyses",
        "",
        "Listed in the pre-registration as exploratory; not tested here.",
        "",
    ]
    lines += [f"- {e}" for e in p.exploratory or ["none"]] + [""]
    lines += _deviations(run.meta) + _reproducibility(run)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default ``run_dir/report.md``) with figures beside it.

    Returns the report's path.
    """
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "report.md"
    run = _Run(run_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = _render(run, out.parent / f"{out.stem}-figures", out.parent)
    return write_atomic(out, text)
