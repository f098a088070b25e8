"""The consolidation strategies: their update rules, bounds and read-outs, on toy batches."""

from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from gguf_fixtures import tiny_model
from memory_reads import read

from hebbian.engine import EngineConfig, Evicted, HebbianCache, Strategy, attention
from hebbian.engine import cache as cache_module
from hebbian.engine import step as step_module
from hebbian.engine.consolidation import Memory, Rank1, Slots
from hebbian.engine.consolidation.slots import FREE_BELOW
from hebbian.engine.step import link

H, D, HIDDEN = 2, 16, 64  # tiny llama: 2 KV heads of 16 dims (4 query heads), hidden size 64


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama")


def batch(seed: int, E: int, scale: float = 1.0) -> Evicted:
    rng = np.random.default_rng(seed)
    arrays = [
        rng.standard_normal(s).astype(np.float32) * scale for s in [(1, H, E, D), (1, H, E, D)]
    ]
    importance = rng.uniform(0.2, 2.0, (1, H, E)).astype(np.float32)
    hidden = rng.standard_normal((1, 1, E, HIDDEN)).astype(np.float32)
    positions = np.broadcast_to(np.arange(E, dtype=np.int32), (1, H, E))
    return Evicted(*(mx.array(x) for x in (*arrays, importance, positions, hidden)))


def token(b: Evicted, i: int) -> Evicted:
    return Evicted(
        *(x[:, :, i : i + 1] for x in (b.keys, b.values, b.importance, b.positions, b.hidden))
    )


# --- fast weights -------------------------------------------------------------------------------


def test_a_batched_rank1_update_equals_the_sum_of_single_updates(model):
    config = EngineConfig(
        mode="rank1", target="both", strength=0.5, decay=0.99, stiffen_at=0, max_norm=1e6
    )
    batched, single = Rank1(config, model, [0]), Rank1(config, model, [0])
    b = batch(0, 6)
    batched.consolidate(0, b)
    for i in range(6):
        single.consolidate(0, token(b, i))
    for name in ("Ak", "bk", "Av", "bv", "input_sum", "input_square", "input_count"):
        np.testing.assert_allclose(
            np.array(batched.layers[0][name]),
            np.array(single.layers[0][name]),
            rtol=1e-4,
            atol=1e-6,
        )
    # and both are the seed's rule: A_h = sum_i eta * importance_i / n_rep * decay^age_i * outer(v_i, x_i)
    x = np.array(b.hidden)[0, 0]
    w = 0.5 * np.array(b.importance)[0] / 2 * 0.99 ** np.arange(5, -1, -1)
    expected = np.concatenate([(np.array(b.values)[0, h] * w[h, :, None]).T @ x for h in range(H)])
    np.testing.assert_allclose(np.array(batched.layers[0]["Av"]), expected, rtol=1e-4, atol=1e-6)


def fast_weights(strategy, layer=0, target="v"):
    """dW = (A - outer(b, c)) / s2, and c, in numpy."""
    state = {k: np.array(v) for k, v in strategy.layers[layer].items()}
    c = state["input_sum"] / state["input_count"]
    s2 = state["input_square"] / state["input_count"] - c @ c
    return (state[f"A{target}"] - np.outer(state[f"b{target}"], c)) / s2, c


def test_fast_weights_are_centred_on_the_inputs_mean(model):
    strategy = Rank1(
        EngineConfig(mode="rank1", strength=0.5, decay=1.0, stiffen_at=0, max_norm=1e6), model, [0]
    )
    b = batch(1, 8)
    strategy.consolidate(0, b)
    dw, c = fast_weights(strategy)
    x = np.array(b.hidden)[0, 0]
    np.testing.assert_allclose(c, x.mean(axis=0), rtol=1e-5, atol=1e-6)
    u = x - c
    w = 0.5 * np.array(b.importance)[0] / 2
    expected = np.concatenate([(np.array(b.values)[0, h] * w[h, :, None]).T @ u for h in range(H)])
    np.testing.assert_allclose(dw, expected / (u * u).sum(-1).mean(), rtol=1e-3, atol=1e-6)
    query = mx.array(np.random.default_rng(2).standard_normal((1, 3, HIDDEN)).astype(np.float32))
    y = mx.ones((1, 3, 32))  # max_norm=1e6: far from its bound
    side = strategy.side(0, "v", query, y) - y
    np.testing.assert_allclose(
        np.array(side)[0], (np.array(query)[0] - c) @ dw.T, rtol=1e-3, atol=1e-5
    )
    assert strategy.side(0, "k", query, query) is query  # target "v" only
    strategy.consolidate(0, batch(2, 8))  # the side path follows the state, not its first version
    dw, c = fast_weights(strategy)
    np.testing.assert_allclose(
        np.array(strategy.side(0, "v", query, y) - y)[0],
        (np.array(query)[0] - c) @ dw.T,
        rtol=1e-3,
        atol=1e-5,
    )


def test_fast_weights_made_once_per_state_outlive_a_snapshot_restored(model):
    """dW is made once per state: a restore (a fork's end, a trace's) copies the state's dict,
    not its arrays, and does not make it again."""
    s = Rank1(EngineConfig(mode="rank1", target="both"), model, [0])
    s.consolidate(0, batch(0, 4))
    before = s._weights(0, "k")
    s.restore(s.snapshot())
    assert all(x is y for x, y in zip(s._weights(0, "k"), before))
    s.consolidate(0, batch(1, 4))
    assert s._weights(0, "k")[0] is not before[0]


def test_metaplasticity_accumulates_each_rows_change_to_dw(model):
    config = EngineConfig(mode="rank1", target="both", strength=0.5, decay=0.99, max_norm=1e6)
    strategy = Rank1(config, model, [0])
    b = batch(4, 8)
    strategy.consolidate(0, b)  # from h = 0, every row learns at full rate
    state = {k: np.array(v) for k, v in strategy.layers[0].items()}
    c = state["input_sum"] / state["input_count"]
    s2 = state["input_square"] / state["input_count"] - c @ c
    u = np.array(b.hidden)[0, 0] - c
    w = 0.5 * np.array(b.importance)[0] / 2 * 0.99 ** np.arange(7, -1, -1)
    for t, targets in (("k", np.array(b.keys)), ("v", np.array(b.values))):
        change = np.concatenate([(targets[0, h] * w[h, :, None]).T @ u for h in range(H)]) / s2
        np.testing.assert_allclose(
            state[f"h{t}"], np.linalg.norm(change, axis=-1), rtol=1e-3, atol=1e-6
        )


def test_fast_weights_stay_within_their_bounds_and_stiffen(model):
    config = EngineConfig(mode="rank1", strength=50.0, max_norm=0.05, stiffen_at=0.5)
    strategy = Rank1(config, model, [0, 1])
    for seed in range(10):
        strategy.consolidate(0, batch(seed, 8))
    W = np.array(model.layers[0].self_attn.v_proj.weight)
    assert np.linalg.norm(fast_weights(strategy)[0]) <= 0.05 * np.linalg.norm(W) * (1 + 1e-3)
    x = mx.array(np.random.default_rng(3).standard_normal((1, 5, HIDDEN)).astype(np.float32))
    y = model.layers[0].self_attn.v_proj(x)
    assert (
        np.linalg.norm(np.array(strategy.side(0, "v", x, y) - y), axis=-1)
        <= 0.05 * np.linalg.norm(np.array(y), axis=-1) * (1 + 1e-4)
    ).all()
    d = strategy.diagnostics()  # layer 1 never learned: the averages include its zeros
    assert d["update_norm"] == pytest.approx(0.05 / 2, rel=1e-2)
    assert 0 < d["stiff_fraction"] <= 0.5 and config.decay < d["decay"] < 1


class Recorder(Strategy):
    """A strategy that keeps the batches it is handed."""

    records_inputs = tracks_links = True

    def __init__(self):
        super().__init__(EngineConfig())
        self.batches = []

    def consolidate(self, layer, b):
        self.batches.append(b)


def test_association_links_a_token_to_its_strongest_attender():
    # Token 2 holds the only key along axis 0; only the query at position 4 looks along it.
    hidden = {}

    class Tap:
        def take_input(self):
            return mx.array(hidden[cache.seen][None, None])

    config = EngineConfig(window=3, n_sink=1, positions="original", hand_over=1, mode="association")
    recorder = Recorder()
    cache = HebbianCache(config, strategy=recorder, attn=SimpleNamespace(k_proj=Tap()))
    rng = np.random.default_rng(3)
    for position in range(8):
        hidden[position] = np.full(8, position, np.float32)
        q, k, v = (rng.standard_normal((1, 2, 1, 8)).astype(np.float32) for _ in range(3))
        q[..., 0] = 6.0 if position == 4 else 0.0
        k[..., 0] = 6.0 if position == 2 else 0.0
        keys, values = cache.update_and_fetch(mx.array(k), mx.array(v))
        attention(mx.array(q), keys, values, cache, 1.0, cache.make_mask(1))
    by_position = {int(b.positions[0, 0, 0]): b for b in recorder.batches}
    assert sorted(by_position) == [1, 2, 3, 4]
    linked = by_position[2]
    assert np.array(linked.linked_found).all()
    np.testing.assert_array_equal(np.array(linked.linked)[0, :, 0], np.full((2, 8), 4.0))


@pytest.mark.parametrize("positions", ["original", "cache"])
def test_links_follow_tokens_through_reused_slots_chunks_and_steps(positions, monkeypatch):
    """Each held token's link is its strongest later attender over the steps it was held, worked
    out by sequence position from the weights attention handed to the link update (a slot reused
    by a new token starts empty; a token's attention to itself never counts), through chunks,
    single steps and the fused steady steps (run uncompiled here, so the recorder sees inside)."""
    config = EngineConfig(window=4, n_sink=1, positions=positions, hand_over=2, mode="association")
    cache = HebbianCache(
        config,
        rope=nn.RoPE(8),
        strategy=Recorder(),
        attn=SimpleNamespace(k_proj=SimpleNamespace(take_input=lambda: mx.zeros((1, L, 8)))),
    )
    best = {}  # (KV head, sequence position) -> (weight, attender position)

    def recording_link(buffers, weights, own, fresh, seen):
        w, T, first = np.array(weights), weights.shape[-1], int(seen.item())
        slots = np.array(buffers["positions"][0, :, :T])
        for h in range(w.shape[1]):
            for t in range(T):
                p = int(slots[h, t])
                column = np.where(first + np.arange(w.shape[2]) == p, 0.0, w[0, h, :, t])
                old = best.get((h, p), (0.0, -1))
                best[h, p] = (
                    (column.max(), first + int(column.argmax())) if column.max() > old[0] else old
                )
        return link(buffers, weights, own, fresh, seen)

    monkeypatch.setattr(step_module, "link", recording_link)
    fused, compiled = [], cache_module.compiled_step
    monkeypatch.setattr(cache_module, "compiled_step", lambda *a: fused.append(1) or compiled(*a))
    rng = np.random.default_rng(0)
    mx.disable_compile()
    try:
        for L in [5, 1, 1, 3, *[1] * 8]:
            q, k, v = (
                mx.array(rng.standard_normal(s).astype(np.float32) * 2)
                for s in [(1, 4, L, 8), (1, 2, L, 8), (1, 2, L, 8)]
            )
            keys, values = cache.update_and_fetch(k, v)
            mx.eval(attention(q, keys, values, cache, 1.0, cache.make_mask(L)))
    finally:
        mx.enable_compile()
    assert len(fused) >= 6  # the single steps after the chunk of 3 ran fused
    held = np.array(cache.held("positions"))[0]
    for h in range(2):
        expected = [best[h, int(p)] for p in held[h]]
        np.testing.assert_allclose(
            np.array(cache.held("link_w"))[0, h], [w for w, _ in expected], rtol=1e-6
        )
        np.testing.assert_array_equal(
            np.array(cache.held("link_pos"))[0, h], [who for _, who in expected]
        )
    # the newest token: no attender yet
    assert (np.array(cache.held("link_pos"))[0, :, -1] == -1).all()


# --- memory -------------------------------------------------------------------------------------


def exact_contribution(keys, values, weights, queries, scale):
    """The weighted softmax mass and output of the evicted keys alone, per query head (numpy)."""
    masses, outs = [], []
    for head in range(queries.shape[1]):
        s = np.exp(queries[0, head] @ keys[0, head // 2].T * scale) * weights[0, head // 2]
        masses.append(s.sum(-1))
        outs.append(s @ values[0, head // 2] / s.sum(-1, keepdims=True))
    return np.stack(masses), np.stack(outs)


def test_memory_read_out_approaches_the_evicted_keys_softmax_contribution(model):
    b = batch(4, 200, scale=0.5)
    queries = np.random.default_rng(5).standard_normal((1, 4, 3, D)).astype(np.float32) * 0.5
    scale = D**-0.5
    weights = np.array(b.importance) / 2  # strength 1, n_rep 2
    mass, out = exact_contribution(np.array(b.keys), np.array(b.values), weights, queries, scale)
    errors = {}
    for m in (16, 256, 4096):
        runs = []
        for seed in range(3):
            memory = Memory(
                EngineConfig(strength=1.0, decay=1.0, features=m, seed=seed), model, [0]
            )
            memory.consolidate(0, b)
            got_out, log_mass = read(memory, 0, mx.array(queries), scale)
            runs.append(
                (
                    np.abs(np.exp(np.array(log_mass)[0]) / mass - 1).mean(),
                    np.abs(np.array(got_out)[0] - out).mean() / np.abs(out).mean(),
                )
            )
        errors[m] = np.mean(runs, axis=0)
    assert errors[16][0] > errors[256][0] > errors[4096][0] and errors[4096][0] < 0.05
    assert errors[16][1] > errors[256][1] > errors[4096][1] and errors[4096][1] < 0.1


def test_memory_fades_exactly_by_decay_per_evicted_token(model):
    memory = Memory(EngineConfig(strength=1.0, decay=0.9, features=64), model, [0])
    memory.consolidate(0, batch(6, 20))
    queries = mx.array(np.random.default_rng(7).standard_normal((1, 4, 2, D)).astype(np.float32))
    before = read(memory, 0, queries, D**-0.5)
    nothing = batch(8, 10)
    memory.consolidate(
        0, Evicted(nothing.keys, nothing.values, mx.zeros((1, H, 10)), nothing.positions)
    )
    after = read(memory, 0, queries, D**-0.5)
    np.testing.assert_allclose(np.array(after[0]), np.array(before[0]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.array(after[1] - before[1]), 10 * np.log(0.9), atol=1e-4)


# --- slots --------------------------------------------------------------------------------------


def test_slots_take_free_slots_then_merge_into_the_most_similar(model):
    slots = Slots(EngineConfig(mode="slots", strength=1.0, decay=1.0, slots=2), model, [0])
    a, c = np.zeros((1, H, 1, D), np.float32), np.zeros((1, H, 1, D), np.float32)
    a[..., 0], c[..., 0], c[..., 1] = 1.0, 0.9, 0.1
    b = -a
    keys = mx.array(np.concatenate([a, b], axis=2))
    values = mx.array(np.random.default_rng(9).standard_normal((1, H, 3, D)).astype(np.float32))
    importance = mx.array(np.array([[[2.0, 4.0, 6.0]] * H], np.float32))
    positions = mx.zeros((1, H, 2), mx.int32)
    slots.consolidate(0, Evicted(keys, values[:, :, :2], importance[..., :2], positions))
    slots.consolidate(
        0, Evicted(mx.array(c), values[:, :, 2:], importance[..., 2:], positions[..., :1])
    )
    state = {k: np.array(v) for k, v in slots.layers[0].items()}
    np.testing.assert_allclose(state["weight"], [[1.0 + 3.0, 2.0]] * H)  # importance / n_rep
    np.testing.assert_allclose(state["keys"][:, 0], ((a * 1.0 + c * 3.0) / 4.0)[0, :, 0], atol=1e-6)
    np.testing.assert_allclose(state["keys"][:, 1], b[0, :, 0], atol=1e-6)
    expected_value = (np.array(values)[0, :, 0] * 1.0 + np.array(values)[0, :, 2] * 3.0) / 4.0
    np.testing.assert_allclose(state["values"][:, 0], expected_value, atol=1e-6)


def test_slots_never_exceed_their_bound_and_conserve_weight(model):
    slots = Slots(EngineConfig(mode="slots", strength=1.0, decay=1.0, slots=4), model, [0])
    total = 0.0
    for seed in range(30):
        b = batch(seed, 5)
        slots.consolidate(0, b)
        total += np.array(b.importance).sum() / 2 / H
        weight = np.array(slots.layers[0]["weight"])
        assert weight.shape == (H, 4) and (weight >= FREE_BELOW).sum(axis=-1).max() <= 4
    assert weight.sum() / H == pytest.approx(total, rel=1e-4)
    assert all(np.isfinite(np.array(x)).all() for x in slots.layers[0].values())


def test_slots_read_is_a_softmax_over_slots_with_a_log_mass_bias(model):
    slots = Slots(EngineConfig(mode="slots", strength=1.0, decay=1.0, slots=8), model, [0])
    slots.consolidate(0, batch(10, 5))
    state = {k: np.array(v) for k, v in slots.layers[0].items()}
    queries = np.random.default_rng(11).standard_normal((1, 4, 2, D)).astype(np.float32)
    out, log_mass = read(slots, 0, mx.array(queries), 0.25)
    for head in range(4):
        used = state["weight"][head // 2] > 0
        s = queries[0, head] @ state["keys"][head // 2][used].T * 0.25 + np.log(
            state["weight"][head // 2][used]
        )
        np.testing.assert_allclose(
            np.array(log_mass)[0, head], np.log(np.exp(s).sum(-1)), rtol=1e-5
        )
        p = np.exp(s) / np.exp(s).sum(-1, keepdims=True)
        np.testing.assert_allclose(
            np.array(out)[0, head], p @ state["values"][head // 2][used], atol=1e-5
        )


def test_without_importance_every_token_counts_as_an_average_one(model):
    memory = Memory(EngineConfig(strength=0.5, decay=1.0, track_importance=False), model, [0])
    memory.consolidate(0, batch(12, 7))
    np.testing.assert_allclose(np.array(memory.layers[0]["mass"]), [0.5 * 7] * H, rtol=1e-6)
