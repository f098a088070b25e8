"""Snapshots (snapshot.py): containers copied, arrays and other records shared."""

from dataclasses import dataclass, field

import mlx.core as mx
import numpy as np

from hebbian.engine.snapshot import Snapshots


@dataclass
class Box:
    items: list = field(default_factory=list)
    positions: np.ndarray = field(default_factory=lambda: np.arange(3))


@dataclass(frozen=True)
class Frozen:
    items: list


class Holder(Snapshots):
    _fixed = ("name",)

    def __init__(self):
        self.name = "fixed"
        self.state = {"a": mx.zeros((2,)), "b": [1, 2]}
        self.pair = (mx.ones((2,)), [1])
        self.box, self.frozen, self.seen = Box([1]), Frozen([1]), {1}


def test_a_snapshot_copies_containers_and_shares_arrays_tuples_and_frozen_records():
    h = Holder()
    snap = h.snapshot()
    assert "name" not in snap
    assert snap["state"] is not h.state and snap["state"]["b"] is not h.state["b"]
    assert snap["state"]["a"] is h.state["a"] and snap["frozen"] is h.frozen
    assert snap["pair"] is h.pair
    assert snap["box"] is not h.box and snap["box"].items is not h.box.items
    assert snap["box"].positions is h.box.positions
    h.state["b"].append(3)
    h.box.items.append(2)
    h.seen.add(2)
    h.restore(snap)
    assert h.state["b"] == [1, 2] and h.box.items == [1] and h.seen == {1}
    h.state["b"].append(4)
    h.restore(snap)  # a snapshot restored stays as it was
    assert h.state["b"] == [1, 2]
