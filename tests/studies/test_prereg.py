"""Pre-registration schema: the example validates; each malformed file fails with its one-line message."""

import copy
import hashlib
from pathlib import Path

import pytest
import yaml

from hebbian.studies import plan, power
from hebbian.studies.prereg import PreregError, load_prereg, parse_prereg

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "prereg" / "synthetic.yaml"


def example() -> dict:
    """The example pre-registration as a fresh dict, to be modified by a test."""
    return yaml.safe_load(EXAMPLE.read_text())


def write_prereg(folder: Path, data: dict, name: str = "study.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_example_validates_and_plans_n_from_the_primary_hypotheses():
    p = load_prereg(EXAMPLE)
    assert p.warnings == ()
    assert p.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert [c.role for c in p.conditions] == [
        "positive_control",
        "negative_control",
        "baseline",
        "treatment",
        "treatment",
    ]
    # two primary McNemar hypotheses in a Holm family of 2: planned at alpha 0.05 / 2
    assert p.planned_n == power.n_for("mcnemar", alpha=0.025, p10=0.315, p01=0.165) == 201
    assert p.condition("full_cache").config == {"p_correct": 0.95, "logprob_shift": 2.0}


def test_defaults_are_filled_in():
    data = example()
    del data["conditions"]["sliding_window"]["config"]["logprob_shift"]
    del data["hypotheses"][2]["correction"]
    p = parse_prereg(data)
    assert p.condition("sliding_window").config["logprob_shift"] == 0.0
    assert (p.hypotheses[2].family, p.hypotheses[2].method) == ("H3", "holm")


def _set(path, value):
    def mutate(data):
        *parents, last = path
        for key in parents:
            data = data[key]
        if value is DELETE:
            del data[last]
        else:
            data[last] = value

    return mutate


DELETE = object()
TESTS = "fisher, mcnemar, paired_t, wilcoxon, welch_t"

MALFORMED = [
    (
        "unknown key",
        _set(["colour"], "red"),
        "colour: unknown key; allowed keys: id, title, version, task, conditions, outcomes, hypotheses, validity, "
        "sample_size, seeds, stopping_rule, exclusions, exploratory",
    ),
    (
        "unknown nested key",
        _set(["conditions", "full_cache", "colour"], "red"),
        "conditions.full_cache.colour: unknown key; allowed keys: role, description, config",
    ),
    (
        "bad test name",
        _set(["hypotheses", 0, "test"], "ttest"),
        f"hypotheses[0].test: 'ttest' is not allowed; allowed: {TESTS}",
    ),
    (
        "bad correction method",
        _set(["hypotheses", 0, "correction", "method"], "holmes"),
        "hypotheses[0].correction.method: 'holmes' is not allowed; allowed: holm, bonferroni, fdr_bh",
    ),
    ("missing field", _set(["title"], DELETE), "title: missing (required; text)"),
    (
        "missing choice field",
        _set(["hypotheses", 1, "test"], DELETE),
        f"hypotheses[1].test: missing (required; allowed: {TESTS})",
    ),
    (
        "wrong type",
        _set(["hypotheses", 0, "alpha"], "0.05"),
        "hypotheses[0].alpha: expected a number, got text '0.05'",
    ),
    (
        "boolean is not an integer",
        _set(["seeds", "items"], True),
        "seeds.items: expected an integer, got boolean True",
    ),
    (
        "both n and effect missing",
        _set(["hypotheses", 0, "sesoi"], DELETE),
        "hypotheses[0].sesoi: missing; a primary hypothesis needs its smallest effect size of interest "
        "(it sets n, or the power of a fixed n)",
    ),
    (
        "no sample size at all",
        _set(["sample_size"], DELETE),
        "sample_size: missing (required; a mapping (key: value lines))",
    ),
    (
        "alpha out of range",
        _set(["hypotheses", 0, "alpha"], 5),
        "hypotheses[0].alpha: must lie strictly between 0 and 1, got 5",
    ),
    (
        "unknown role",
        _set(["conditions", "sliding_window", "role"], "control"),
        "conditions.sliding_window.role: 'control' is not allowed; allowed: positive_control, negative_control, "
        "baseline, treatment",
    ),
    (
        "unknown task",
        _set(["task", "name"], "recal"),
        "task.name: 'recal' is not allowed; allowed: continuation, needle, perplexity, recall, synthetic",
    ),
    (
        "task config key",
        _set(["conditions", "no_fact", "config", "p_corect"], 0.1),
        "conditions.no_fact.config.p_corect: unknown key; allowed keys: p_correct, logprob_shift",
    ),
    (
        "task config range",
        _set(["conditions", "no_fact", "config", "p_correct"], 1.5),
        "conditions.no_fact.config.p_correct: must lie in [0, 1], got 1.5",
    ),
    (
        "compared condition unknown",
        _set(["hypotheses", 0, "compare"], ["hebbian_q", "sliding_window"]),
        "hypotheses[0].compare: 'hebbian_q' is not a condition; conditions: full_cache, no_fact, sliding_window, "
        "hebbian_v, hebbian_k",
    ),
    (
        "compared with itself",
        _set(["hypotheses", 0, "compare"], ["hebbian_v", "hebbian_v"]),
        "hypotheses[0].compare: must name two different conditions [a, b], got ['hebbian_v', 'hebbian_v']",
    ),
    (
        "test does not fit outcome",
        _set(["hypotheses", 2, "test"], "fisher"),
        "hypotheses[2].test: fisher does not fit the continuous outcome logprob; allowed: paired_t, wilcoxon, "
        "welch_t",
    ),
    (
        "one-sided mcnemar",
        _set(["hypotheses", 0, "sidedness"], "one-sided"),
        "hypotheses[0].sidedness: mcnemar is two-sided only; allowed: two-sided",
    ),
    (
        "two methods in a family",
        _set(["hypotheses", 1, "correction", "method"], "bonferroni"),
        "hypotheses[1].correction.method: family recall uses holm (hypotheses[0]); one method per family",
    ),
    (
        "sesoi key the test does not take",
        _set(["hypotheses", 2, "sesoi"], {"effect": 0.3, "p10": 0.2}),
        "hypotheses[2].sesoi.p10: unknown key; allowed keys: effect",
    ),
    (
        "negative sesoi",
        _set(["hypotheses", 2, "sesoi"], {"effect": -0.3}),
        "hypotheses[2].sesoi.effect: must be a positive magnitude (direction sets its sign), got -0.3",
    ),
    (
        "sesoi power rejects",
        _set(["hypotheses", 0, "sesoi"], {"effect": 0.1}),
        "hypotheses[0].sesoi: mcnemar needs discordant = p10 + p01 in (0, 1], got None",
    ),
    (
        "duplicate hypothesis id",
        _set(["hypotheses", 1, "id"], "H1"),
        "hypotheses: id 'H1' is used 2 times; ids must be unique",
    ),
    (
        "a rate threshold above 1",
        _set(["validity", "positive_min"], 80),
        "validity.positive_min: must lie in [0, 1], got 80.0 (a rate of the binary outcome correct)",
    ),
    (
        "fixed n too small",
        _set(["sample_size", "n"], 1),
        "sample_size.n: must be at least 2, got 1",
    ),
    (
        "id unusable as a directory",
        _set(["id"], "my study"),
        "id: 'my study': use only letters, digits, '.', '_' and '-' (it names the run directory)",
    ),
]


@pytest.mark.parametrize("case, mutate, message", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_prereg_gives_one_line_exit_2_and_writes_nothing(
    case, mutate, message, tmp_path, monkeypatch
):
    from test_study_cli import error_lines, invoke

    data = example()
    mutate(data)
    path = write_prereg(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    result = invoke("study", path)
    assert result.exit_code == 2
    assert error_lines(result) == [f"error: {message}"]
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    "text, message",
    [
        ("id: [unclosed\n", "study.yaml: not valid YAML: "),
        (
            "id: a\nid: b\n",
            "study.yaml: not valid YAML: key 'id' is given twice (line 2, column 1)",
        ),
        (
            "- just\n- a list\n",
            "file: expected a mapping (key: value lines), got list ['just', 'a list']",
        ),
    ],
)
def test_files_that_are_not_a_prereg_mapping(text, message, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(PreregError) as caught:
        load_prereg(path)
    assert len(caught.value.lines) == 1 and caught.value.lines[0].startswith(message)


def test_every_error_is_reported_at_once():
    data = example()
    data["colour"] = "red"
    data["hypotheses"][0]["test"] = "ttest"
    del data["title"]
    data["seeds"]["trials"] = -1
    with pytest.raises(PreregError) as caught:
        parse_prereg(data)
    assert [line.split(":")[0] for line in caught.value.lines] == [
        "colour",
        "title",
        "hypotheses[0].test",
        "seeds.trials",
    ]


def test_missing_controls_and_validity_are_warnings_not_errors():
    data = example()
    del data["conditions"]["full_cache"], data["conditions"]["no_fact"], data["validity"]
    p = parse_prereg(data)
    assert [w.split(";")[0] for w in p.warnings] == [
        "conditions: no positive_control",
        "conditions: no negative_control",
        "validity: not given",
    ]


def test_validity_needs_its_controls():
    data = example()
    del data["conditions"]["no_fact"]
    with pytest.raises(PreregError) as caught:
        parse_prereg(data)
    assert caught.value.lines == [
        "validity.negative_max: needs a condition with role negative_control",
        "validity.min_gap: needs a condition with role negative_control",
    ]


def test_a_fixed_n_reports_its_power_and_warns_when_it_is_short():
    data = example()
    data["sample_size"]["n"] = 60
    p = parse_prereg(data)
    assert p.planned_n == 60 and p.fixed_n == 60
    got = plan.power_of(p, p.hypotheses[0], 60)
    assert got.power == pytest.approx(
        power.achieved_power("mcnemar", None, 60, 0.025, p10=0.315, p01=0.165)
    )
    assert p.warnings == (
        f"sample_size.n: 60 items give H1 power {got.power:.2f} at its SESOI, below the target "
        f"0.80",
        f"sample_size.n: 60 items give H2 power {got.power:.2f} at its SESOI, below the "
        f"target 0.80",
    )


def test_one_sided_less_signs_the_sesoi():
    data = example()
    h = data["hypotheses"][2]
    h["direction"], h["compare"] = "less", list(reversed(h["compare"]))
    p = parse_prereg(data)
    assert (
        plan.power_of(p, p.hypotheses[2], 90).n_needed
        == power.n_for("paired_t", -0.3, 0.025, 0.8, "less")
        == 90
    )
    assert copy.deepcopy(p.hypotheses[2]).alternative == "less"


@pytest.mark.parametrize("path", sorted((ROOT / "prereg").glob("*.yaml")), ids=lambda p: p.name)
def test_every_committed_prereg_validates(path):
    prereg = load_prereg(path)
    assert prereg.planned_n >= 2 and len(prereg.conditions) >= 2
