"""Trace analyses, SAE metrics, episode generators and comparison helpers on hand-made inputs."""

import numpy as np
import pytest

from hebbian.sae import analysis, metrics
from hebbian.sae.compare import correct_family, markdown_table, paired
from hebbian.sae.episodes import CHAOTIC, EMOTIONAL, ROUTINE, random_episodes, sine_episodes

TRACES = np.array(
    [
        [1.0, 0.0, 2.0, 0.0],  # emotional
        [0.0, 3.0, 0.0, 0.0],  # chaotic
        [1.0, 0.0, 0.0, 0.0],  # routine
        [0.0, 0.0, 0.0, 0.0],
    ]
)  # routine (silent)
LABELS = (EMOTIONAL, CHAOTIC, ROUTINE, ROUTINE)


def test_sparsity_and_active_count():
    assert np.allclose(analysis.sparsity(TRACES, 0.5), [0.5, 0.75, 0.75, 1.0])
    assert np.array_equal(analysis.active_count(TRACES, 0.5), [2, 1, 1, 0])


def test_cosine_matrix_handles_zero_rows():
    cos = analysis.cosine_matrix(TRACES)
    assert cos[0, 2] == pytest.approx(1 / np.sqrt(5))
    assert cos[0, 1] == 0 and cos[3, 0] == 0 and cos[3, 3] == 0


def test_standardize_and_euclidean():
    z = analysis.standardize_latents(TRACES)
    assert np.allclose(z.mean(axis=0), 0) and np.allclose(z[:, 3], 0)  # constant latent -> 0
    assert analysis.euclidean_matrix(TRACES)[0, 1] == pytest.approx(np.sqrt(1 + 9 + 4))


def test_distinctiveness_uses_type_means():
    out = analysis.distinctiveness(TRACES, LABELS)
    # routine mean trace is [0.5, 0, 0, 0]: cosine with emotional [1, 0, 2, 0] is 1/sqrt(5)
    assert out["cosine"][EMOTIONAL, ROUTINE] == pytest.approx(1 / np.sqrt(5))
    assert out["euclidean"][EMOTIONAL, ROUTINE] == pytest.approx(np.sqrt(0.25 + 4))
    assert set(out) == {"cosine", "cosine_normalized", "euclidean"}


def test_neuron_overlap_by_threshold():
    low, high = analysis.neuron_overlap(TRACES, LABELS, thresholds=(0.1, 1.5))
    assert low["active"] == {EMOTIONAL: [0, 2], CHAOTIC: [1], ROUTINE: [0]}
    assert low["shared"][EMOTIONAL, ROUTINE] == [0] and low["core"] == []
    assert high["active"][EMOTIONAL] == [2] and high["active"][ROUTINE] == []
    # any episode
    assert analysis.neuron_overlap(TRACES, LABELS, thresholds=(0.9,))[0]["active"][ROUTINE] == [0]


def test_metrics_hand_computed():
    x = np.array([[1.0, 0.0], [3.0, 0.0]])
    x_hat = np.array([[1.0, 0.0], [2.0, 0.0]])
    # mean [2, 0]: SS = 1 + 1
    assert metrics.explained_variance(x, x_hat) == pytest.approx(1 - 1 / 2)
    assert np.allclose(metrics.relative_error(x, x_hat), [0.0, 1 / 9])
    assert metrics.normalized_mse(x, x_hat) == pytest.approx(1 / 18)
    assert metrics.l0(np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])) == 1.5
    assert metrics.ce_loss_recovered(2.0, 2.5, 7.0) == pytest.approx(0.9)
    assert np.isnan(metrics.ce_loss_recovered(2.0, 2.5, 2.0))


def test_mean_max_cosine_ignores_order_sign_and_scale():
    atoms = np.eye(3)
    learned = np.array([[0, 0, -2.0], [1.0, 0, 0], [0, 5.0, 0], [1.0, 1.0, 0]])
    assert metrics.mean_max_cosine(atoms, learned) == pytest.approx(1.0)


def test_episode_generators():
    sine = sine_episodes(n=6, seed=1)
    assert sine.x.shape == (6, 300) and sine.labels[:3] == (EMOTIONAL, CHAOTIC, ROUTINE)
    assert np.abs(sine.clean[0, :75]).max() > 2.5 > np.abs(sine.clean[2]).max()  # amplitude boost
    assert np.array_equal(sine.index(ROUTINE), [2, 3, 4, 5])
    assert sine.sparsity_weights()[0] < sine.sparsity_weights()[2]
    assert sine.recon_weights()[0] > sine.recon_weights()[2]
    rand = random_episodes(seed=1)
    assert rand.clean is None and rand.x[0, 30:50].min() >= 0.8
    assert np.array_equal(sine_episodes(seed=4).x, sine_episodes(seed=4).x)
    with pytest.raises(ValueError):
        sine_episodes(n=3)


def test_comparisons_and_holm():
    a, b = [1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.1, 3.6, 4.2, 5.9]
    row = paired("x", a, b)
    assert row.test == "paired t" and row.mean_diff == pytest.approx(-0.46)
    const = paired("const", [2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert const.test.startswith("wilcoxon") and const.p_value == pytest.approx(2 / 64)
    rows = correct_family([row, const])
    assert all(r.p_adjusted >= r.p_value for r in rows)
    assert "| const |" in markdown_table(rows)


def test_verdicts_read_the_expected_direction():
    a, b = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [1.0, 1.9, 3.2, 3.8, 5.1, 6.0]
    rows = correct_family(
        [
            paired("up", a, b, expected=1),
            paired("down", a, b, expected=-1),
            paired("none", a, b, expected=0),
            paired("noise", a, a[::-1], expected=1),
        ]
    )
    assert [r.verdict() for r in rows] == [
        "supports the claim",
        "contradicts the claim (opposite direction)",
        "contradicts the claim (a difference)",
        "no detectable difference",
    ]
    with pytest.raises(ValueError):
        paired("raw", a, b).verdict()
