"""Forgetting measures on hand-made write traces."""

import math

import numpy as np
import pytest

from hebbian.memnet import dynamics


def trace(rows, n=3):
    return np.asarray(rows, dtype=float).reshape(1, len(rows), n)


def test_retention_follows_the_overwrites_of_the_written_slot():
    omega = trace(
        [
            [1, 0, 0],  # t=0 fills slot 0
            [0, 1, 0],  # t=1 slot 1: slot 0 untouched
            [0.5, 0, 0],  # t=2 overwrites half of slot 0
            [0.5, 0, 0.5],
        ]
    )  # t=3 half again
    held = dynamics.retention(omega)[0]
    np.testing.assert_allclose(held[0], [1, 1, 0.5, 0.25])
    np.testing.assert_allclose(held[1], [0, 1, 1, 1])
    np.testing.assert_allclose(held[2, 2:], [1, 0.5])


def test_survival_by_role_averages_the_writes_of_that_role():
    omega = trace([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]])
    roles = np.array([[1, 2, 0, 0]])
    np.testing.assert_allclose(
        dynamics.survival_by_role(omega, roles, 1, 4), [1, 1, 0, 0], atol=1e-9
    )
    np.testing.assert_allclose(dynamics.survival_by_role(omega, roles, 2, 4), [1, 1, 1, np.nan])


def test_write_mass_by_role_and_lifetimes():
    omega = trace([[0.2, 0, 0], [0, 0.8, 0], [0, 0.8, 0], [0, 0, 0]])
    roles = np.array([[0, 1, 1, 0]])
    np.testing.assert_allclose(dynamics.write_mass_by_role(omega, roles, 3), [0.1, 0.8, np.nan])
    np.testing.assert_allclose(dynamics.slot_lifetimes(omega)[:2], [4 / 0.2, 4 / 1.6])


def test_read_entropy_is_log_n_for_uniform_reads_and_zero_for_one_slot():
    uniform = np.full((2, 3, 1, 4), 0.25)
    sharp = np.zeros((2, 3, 1, 4))
    sharp[..., 1] = 1
    np.testing.assert_allclose(dynamics.read_entropy(uniform), math.log(4))
    np.testing.assert_allclose(dynamics.read_entropy(sharp), 0, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_retention_is_a_share_between_zero_and_one(seed):
    omega = np.random.default_rng(seed).dirichlet(np.ones(5), size=(2, 12)) * 0.9
    held = dynamics.retention(omega)
    assert (held >= 0).all() and (held <= 1 + 1e-12).all()
    assert np.diagonal(held, axis1=1, axis2=2) == pytest.approx(1)
