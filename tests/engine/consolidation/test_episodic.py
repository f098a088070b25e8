"""episodic: exact evicted blocks, chosen by a prompt's queries, bounded by bytes."""

from dataclasses import replace

import mlx.core as mx
import numpy as np
import pytest
from engine_runs import assert_same, generate
from gguf_fixtures import tiny_model
from memory_reads import read

from hebbian.engine import EngineConfig, HebbianEngine, patched
from hebbian.engine.cache import full_attention_layers, make_cache
from hebbian.engine.consolidation import make_strategy
from hebbian.engine.consolidation.episodic import Block, Episodic, best_scores, pack, unpack
from hebbian.engine.evicted import Evicted


def ids(n: int, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(0, 250, n).tolist()


@pytest.fixture(scope="module")
def wide():
    """A tiny llama whose heads are 32 wide, so that blocks can be quantized."""
    return tiny_model("llama", hidden_size=128, num_attention_heads=4, num_key_value_heads=2)


def strategy(model, **knobs) -> Episodic:
    config = EngineConfig(
        **{
            "window": 16,
            "n_sink": 2,
            "mode": "episodic",
            "block": 4,
            "budget": float("inf"),
            **knobs,
        }
    )
    return make_strategy(model, config, full_attention_layers(model))


def evicted(keys: mx.array, start: int) -> Evicted:
    """keys (H, E, D) handed over as one layer's batch, values equal to the keys."""
    H, E, _ = keys.shape
    positions = mx.broadcast_to(mx.arange(start, start + E, dtype=mx.int32), (1, H, E))
    return Evicted(keys[None], keys[None], mx.ones((1, H, E)), positions)


def feed_blocks(s: Episodic, keys: mx.array) -> None:
    """keys (H, N, D): N evicted tokens handed to every layer, 4 at a time."""
    for a in range(0, keys.shape[1], 4):
        for layer in s.shapes:
            s.consolidate(layer, evicted(keys[:, a : a + 4], a))


def test_a_prompt_chooses_the_block_its_queries_match_and_its_neighbours(wide):
    s = strategy(wide, retrieval_heads="1:0", blocks_read=1, neighbours=1, query_tokens=2)
    D = s.shapes[1].head_dim
    keys = mx.random.normal((2, 40, D), key=mx.random.key(1)) * 0.1
    target = mx.random.normal((D,), key=mx.random.key(2))
    keys[0, 22] = target * 3  # token 22 sits in block 5 (tokens 20-23)
    feed_blocks(s, keys)
    assert len(s.complete()) == 10
    queries = mx.broadcast_to(target, (1, 4, 2, D))  # two query tokens, every query head
    read(s, 0, queries, 1.0)  # not a retrieval layer: nothing chosen
    s.choose()
    assert s.selected == []
    read(s, 1, queries, 1.0)
    s.choose()
    assert s.selected == [4, 5, 6] and s.selected_positions() == [(16, 19), (20, 23), (24, 27)]
    # a single-token step (a reply's) reads what the prompt chose and chooses nothing
    out, _ = read(s, 1, queries[:, :, :1], 1.0)
    assert s.selected == [4, 5, 6] and out.shape == (1, 4, 1, D)


def test_a_question_split_across_chunks_still_chooses_by_its_own_queries(wide):
    s = strategy(wide, retrieval_heads="1:0", blocks_read=1, neighbours=0, query_tokens=4)
    D = s.shapes[1].head_dim
    keys = mx.random.normal((2, 40, D), key=mx.random.key(7)) * 0.1
    target = mx.random.normal((D,), key=mx.random.key(8))
    keys[0, 9] = target * 3
    feed_blocks(s, keys)
    other = mx.broadcast_to(-target, (1, 4, 2, D))  # scores block 2 lowest
    read(s, 1, mx.broadcast_to(target, (1, 4, 2, D)), 1.0)  # the question's first two tokens
    s.choose()
    read(s, 1, other, 1.0)  # its last two: still within the last 4 queries
    s.choose()
    assert s.selected == [2]
    read(s, 1, other, 1.0)  # four later tokens push it out
    s.choose()
    assert s.selected != [2]


@pytest.mark.parametrize("contrast", [True, False])
def test_a_block_that_wins_every_vote_is_not_what_a_question_asks_for(wide, contrast):
    s = strategy(
        wide, retrieval_heads="1:0", blocks_read=1, neighbours=0, query_tokens=2, contrast=contrast
    )
    D = s.shapes[1].head_dim
    keys = mx.random.normal((2, 40, D), key=mx.random.key(10)) * 0.1
    g, t = mx.zeros((D,)), mx.zeros((D,))
    g[0], t[1] = 1.0, 1.0  # orthogonal: what every chunk asks, and what the question adds
    keys[0, 1], keys[0, 22] = 4 * g, 3 * t  # block 0 is salient, block 5 holds the fact
    feed_blocks(s, keys)
    for _ in range(3):
        # filler chunks: block 0 has the most of each vote
        read(s, 1, mx.broadcast_to(g, (1, 4, 2, D)), 1.0)
        s.choose()
    read(s, 1, mx.broadcast_to(g + t, (1, 4, 2, D)), 1.0)  # the question
    s.choose()
    assert s.selected == ([5] if contrast else [0])


def test_contrast_does_not_discount_a_block_for_having_been_voted_on_when_it_was_alone(wide):
    s = strategy(wide, retrieval_heads="1:0", blocks_read=1, neighbours=0, query_tokens=2)
    D = s.shapes[1].head_dim
    keys = mx.random.normal((2, 40, D), key=mx.random.key(11)) * 0.1
    t = mx.zeros((D,))
    t[0] = 1.0
    keys[0, 1] = t  # block 0 holds what the question asks, mildly
    nothing = mx.zeros((1, 4, 2, D))  # a chunk whose queries score every block alike

    def feed(first, last):
        for a in range(first, last, 4):
            for layer in s.shapes:
                s.consolidate(layer, evicted(keys[:, a : a + 4], a))

    feed(0, 8)
    for _ in range(3):  # two blocks: each has half of every vote, the uniform share
        read(s, 1, nothing, 1.0)
        s.choose()
    feed(8, 40)
    for _ in range(2):  # ten blocks: a tenth each, uniform again
        read(s, 1, nothing, 1.0)
        s.choose()
    read(s, 1, mx.broadcast_to(t, (1, 4, 2, D)), 1.0)  # the question
    s.choose()
    assert s.selected == [0]


class Window:
    """Stands in for a layer's cache: window_keys() gives these keys (1, H, n, D)."""

    def __init__(self, keys: mx.array):
        self.keys = keys

    def window_keys(self):
        return np.arange(self.keys.shape[2]), self.keys


def gated_store(model, gate: bool, seed: int):
    """A store of 10 blocks whose block 5 matches a question (the target, returned), a window of
    20 tokens that matches nothing yet, and the question's queries (two tokens)."""
    s = strategy(
        model, retrieval_heads="1:0", blocks_read=1, neighbours=0, query_tokens=2, gate=gate
    )
    D = s.shapes[1].head_dim
    keys = mx.random.normal((2, 40, D), key=mx.random.key(seed)) * 0.1
    target = mx.random.normal((D,), key=mx.random.key(seed + 1))
    keys[0, 22] = target * 2  # token 22 sits in block 5
    feed_blocks(s, keys)
    window = mx.random.normal((1, 2, 20, D), key=mx.random.key(seed + 2)) * 0.1
    return s, target, window, mx.broadcast_to(target, (1, 4, 2, D))


@pytest.mark.parametrize("gate", [True, False])
def test_with_gate_a_question_that_the_window_answers_best_reads_no_block(wide, gate):
    s, target, window, question = gated_store(wide, gate, seed=12)
    s.observe(1, question, 1.0, Window(window))
    s.choose()
    assert s.selected == [5] and s.gated == 0  # the window holds nothing like it
    window[0, 0, 9] = target * 3  # now it does, better than the store
    s.observe(1, question, 1.0, Window(window))
    s.choose()
    assert s.selected == ([] if gate else [5]) and s.gated == int(gate)
    assert s.diagnostics()["gated"] == int(gate)


def test_the_gate_leaves_out_the_questions_own_tokens(wide):
    s, target, window, question = gated_store(wide, True, seed=15)
    window[0, 0, 18:] = target * 3  # the question's last two tokens match themselves
    s.observe(1, question, 1.0, Window(window))
    s.choose()
    assert s.selected == [5] and s.gated == 0


@pytest.mark.parametrize("positions", ["cache", "original"])
def test_the_window_keys_are_the_recent_tokens_position_free(tiny, positions):
    config = EngineConfig(
        window=16, n_sink=2, prefill_chunk=8, positions=positions, mode="episodic", block=4
    )
    engine = HebbianEngine(*tiny, config)
    engine.feed(ids(37))
    order, keys = engine.cache[0].window_keys()  # the first layer's keys: made from tokens alone
    assert order.tolist() == list(range(37 - 16, 37))  # the window: 16 recent tokens
    # the same tokens fed with no eviction: their keys, made position-free at their positions
    full = HebbianEngine(*tiny, replace(config, window=64))
    full.feed(ids(37))
    _, all_keys = full.cache[0].window_keys()
    np.testing.assert_allclose(np.array(keys), np.array(all_keys[:, :, 37 - 2 - 16 :]), atol=2e-3)


def test_a_gated_engine_decodes_compiled_as_op_by_op_and_counts_its_gates(tiny):
    config = EngineConfig(
        window=16, n_sink=2, prefill_chunk=8, hand_over=4, mode="episodic", block=4, gate=True
    )
    fast, slow = generate(*tiny, config, compiled=True), generate(*tiny, config, compiled=False)
    assert_same(fast, slow)
    s = fast[2].strategy
    assert s.chosen >= 1 and 0 <= s.gated <= s.chosen


def test_the_read_is_exact_attention_over_the_chosen_tokens(wide):
    s = strategy(wide, retrieval_heads="1:0", blocks_read=1, neighbours=0)
    D = s.shapes[1].head_dim
    keys = mx.random.normal((2, 16, D), key=mx.random.key(3))
    q = mx.random.normal((1, 4, 3, D), key=mx.random.key(4))
    keys[0, 0] = 5 * q[0, 0, 0]  # the vote goes to block 0
    feed_blocks(s, keys)
    s.pinned = (12, 15)  # block 3, whatever the vote, even where the vote fills the read set
    read(s, 1, q, 0.125)
    s.choose()
    assert 3 in s.selected and len(s.selected) == 1
    chosen = mx.concatenate([keys[:, 4 * j : 4 * j + 4] for j in s.selected], axis=1)  # (H, n, D)
    out, log_mass = read(s, 1, q, 0.125)
    grouped = q[0].reshape(2, 2, 3, D)
    scores = (grouped * 0.125) @ chosen[:, None].swapaxes(-1, -2)
    expected = mx.softmax(scores, axis=-1) @ chosen[:, None]
    np.testing.assert_allclose(np.array(out[0].reshape(2, 2, 3, D)), np.array(expected), atol=1e-5)
    np.testing.assert_allclose(
        np.array(log_mass[0].reshape(2, 2, 3)), np.array(mx.logsumexp(scores, axis=-1)), atol=1e-5
    )


@pytest.mark.parametrize("bits, tolerance", [(8, 0.03), (4, 0.4), (3, 0.8), (2, 1.7)])
@pytest.mark.parametrize("keys", [False, True])
def test_quantized_blocks_read_back_close_to_exact_ones(bits, tolerance, keys):
    x = mx.random.normal((2, 32, 64), key=mx.random.key(5))
    back = unpack(pack(x, bits, keys), bits, mx.float32, keys)
    error = float(mx.abs(back - x).max())
    assert back.shape == x.shape and error < tolerance
    # a float16 scale and bias per 32 (per channel or per token, the same count for a block of 32)
    assert sum(p.nbytes for p in pack(x, bits, keys)) == x.nbytes * (bits + 1) / 32


def test_keys_below_four_bits_keep_their_outlier_channel_apart(wide):
    """KIVI's case: one channel of every key far larger than the rest. Grouped per token, each
    group's range is the outlier's, and 2 bits leave the other channels at their group's ends."""
    x = mx.random.normal((2, 32, 64), key=mx.random.key(8))
    x[:, :, 5] = 30 + x[:, :, 5]
    others = [c for c in range(32) if c != 5]  # the outlier's per-token group but itself

    def error(keys: bool) -> float:
        back = np.array(unpack(pack(x, 2, keys), 2, mx.float32, keys))
        return float(np.abs(back - np.array(x))[..., others].mean())

    assert error(keys=True) < error(keys=False) / 2
    # at 4 bits and more keys are grouped as values are
    assert mx.array_equal(pack(x, 4, keys=True)[0], pack(x, 4)[0])
    # and a store that steps down to 2 bits skips 4, so its keys end as close as packed directly;
    # they stop at 3 bits while its values go on to 2, and the block's bytes say so
    s = strategy(wide, min_bits=2, block=32)
    block = Block(np.arange(32), 1.0, 0, data={i: (pack(x, 16), pack(x, 16)) for i in s.shapes})
    for bits in s.levels[1:]:
        s._requantize(block, bits)
    back = np.array(s.block_keys(block, 1))
    assert (block.key_bits, block.bits) == (3, 2)
    assert np.abs(back - np.array(x))[..., others].mean() < error(keys=False) / 2
    direct = np.array(unpack(pack(x, 3, keys=True), 3, mx.float32, keys=True))
    stepped, packed = (np.abs(y - np.array(x))[..., others].mean() for y in (back, direct))
    assert stepped < 1.2 * packed
    assert block.nbytes == len(s.shapes) * x.nbytes * ((3 + 1) + (2 + 1)) / 32


def test_index_keys_find_blocks_at_the_fewest_bits_as_their_exact_keys_do(wide):
    s = strategy(
        wide, retrieval_heads="1:1", blocks_read=1, neighbours=0, block=32, min_bits=2, index_bits=8
    )
    D = s.shapes[1].head_dim
    keys = mx.random.normal((2, 320, D), key=mx.random.key(9))
    feed_blocks(s, keys)
    exact = mx.stack([s.block_keys(b, 1)[1:] for b in s.blocks], axis=1)  # (1, 10, 32, D)
    for block in s.blocks:
        for bits in s.levels[1:]:
            s._requantize(block, bits)
    assert {b.bits for b in s.blocks} == {2} and all(set(b.index) == {1} for b in s.blocks)
    # the index is the retrieval head's keys of its layer alone, counted in the block's bytes
    block = s.blocks[0]
    own = sum(x.nbytes for k, v in block.data.values() for x in (*k, *v))
    assert block.index[1][0] == (1,)
    assert block.nbytes == own + sum(x.nbytes for x in block.index[1][1])
    q = mx.random.normal((1, 4, 2, D), key=mx.random.key(10))  # a chunk of two tokens
    read(s, 1, q, 0.2)
    s.choose()
    grouped = q[0].reshape(2, 2, 2, D)[1:].reshape(1, 4, D) * 0.2
    truth = np.array(best_scores(grouped, exact))
    coarse = np.array(
        best_scores(grouped, mx.stack([s.block_keys(b, 1)[1:] for b in s.blocks], axis=1))
    )
    found_by_index = np.abs(np.array(s.scores[1]) - truth).max()
    assert found_by_index < np.abs(coarse - truth).max() / 5
    assert s.selected == [int(truth.argmax())]
    # an engine with other retrieval heads finds the block by its own keys
    s.heads = {1: [0]}
    np.testing.assert_array_equal(
        np.array(s.finding_keys(block, 1)), np.array(s.block_keys(block, 1)[:1])
    )


@pytest.mark.parametrize("min_bits, index_bits", [(4, 0), (2, 0), (2, 8)])
def test_the_store_never_exceeds_its_budget_over_twenty_thousand_tokens(wide, min_bits, index_bits):
    config = EngineConfig(
        window=32,
        n_sink=2,
        mode="episodic",
        block=32,
        prefill_chunk=250,
        budget=2.0,
        min_bits=min_bits,
        index_bits=index_bits,
    )
    s = make_strategy(wide, config, full_attention_layers(wide))
    seen_bits, worst = set(), 0.0
    with patched(wide, s):
        cache = make_cache(wide, config, s)
        tokens = ids(20_000, 7)
        for a in range(0, len(tokens), 250):
            mx.eval(wide(mx.array(tokens[a : a + 250])[None], cache=cache))
            worst = max(worst, s.store_bytes / s.budget)
            seen_bits |= {b.bits for b in s.complete()}
    assert worst <= 1.0
    # exact, then fewer bits step by step, then gone
    assert s.consolidated == 20_000 - 34 and {16, 8, min_bits} <= seen_bits <= set(s.levels)
    assert s.levels == {4: (16, 8, 4), 2: (16, 8, 3, 2)}[min_bits]
    held = [b for b in s.complete()]
    assert len(held) * 32 < 20_000 - 34 and sum(b.bits == min_bits for b in held) >= len(held) - 2
    assert all(bool(b.index) == (b.bits < index_bits) for b in held)
    # the budget is spent on blocks at the fewest bits: fewer bits, more blocks
    assert len(held) >= 0.9 * s.budget / min(b.nbytes for b in held)
    # strength fades with every evicted token: new blocks take the place of old ones
    assert max(b.positions[-1] for b in held) > 19_000


def test_use_strengthens_a_block_and_disuse_fades_it(wide):
    s = strategy(wide, retrieval_heads="1:0", blocks_read=1, neighbours=0, decay=0.99)
    D = s.shapes[1].head_dim
    keys = mx.random.normal((2, 16, D), key=mx.random.key(6)) * 0.1
    keys[0, 1] = 5 * mx.ones((D,))
    feed_blocks(s, keys)
    before = [s.held(b) for b in s.blocks]
    read(s, 1, mx.ones((1, 4, 2, D)), 1.0)
    s.choose()
    assert s.selected == [0]
    feed_blocks(s, keys)  # 16 more tokens evicted
    after = [s.held(b) for b in s.blocks[:4]]
    assert after[0] > before[0] * 0.99**16  # grew by its share of the vote, then faded
    assert after[1:] == pytest.approx([x * 0.99**16 for x in before[1:]])


def test_compiled_decoding_reads_the_chosen_blocks_as_op_by_op_decoding_does(tiny):
    for positions in ("fixed", "true"):
        config = EngineConfig(
            window=16,
            n_sink=2,
            prefill_chunk=32,
            hand_over=4,
            mode="episodic",
            block=4,
            recall_positions=positions,
        )
        fast, slow = generate(*tiny, config, compiled=True), generate(*tiny, config, compiled=False)
        assert_same(fast, slow)
        assert fast[2].strategy.selected and fast[2].decoder.compiled_steps >= 28


def test_compiled_decoding_reads_two_bit_blocks_as_op_by_op_decoding_does(wide, tiny):
    config = EngineConfig(
        window=16, n_sink=2, prefill_chunk=32, mode="episodic", block=32, budget=0.3, min_bits=2
    )
    prompt = ids(200, 4)
    fast = generate(wide, tiny[1], config, compiled=True, prompt=prompt)
    slow = generate(wide, tiny[1], config, compiled=False, prompt=prompt)
    assert_same(fast, slow)
    s = fast[2].strategy
    assert s.selected and {s.blocks[j].bits for j in s.selected} & {2, 3}


def test_a_reply_traced_before_any_choice_still_reads_what_a_later_prompt_chose(tiny):
    config = EngineConfig(
        window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode="episodic", block=4
    )
    runs = []
    for compiled in (True, False):
        # blocks fill while it decodes
        first = generate(*tiny, config, compiled, tokens=40, prompt=[5, 6])
        assert first[2].strategy.complete() and not first[2].strategy.selected
        runs.append(
            generate(
                *tiny, config, compiled, tokens=24, prompt=list(range(60, 70)), engine=first[2]
            )
        )
    assert runs[0][2].strategy.selected
    assert_same(*runs)


def test_a_prompt_fed_as_one_chunk_chooses_among_the_blocks_it_evicted(tiny):
    config = EngineConfig(
        window=16, n_sink=2, prefill_chunk=64, hand_over=4, mode="episodic", block=4
    )
    fast, slow = generate(*tiny, config, compiled=True), generate(*tiny, config, compiled=False)
    assert_same(fast, slow)
    # the 39 tokens before the last went in as one chunk, whose own evictions made every block
    assert fast[2].strategy.selected and fast[2].strategy.chosen == 1


@pytest.mark.parametrize("heads", ["1:0", "0:0", "all"])
def test_a_chunk_chooses_at_the_next_step_even_where_the_first_layer_retrieves(tiny, heads):
    """Every retrieval layer's queries of a chunk choose together, at the next step's first
    layer: a first layer that retrieves does not choose with its own queries in their own step."""
    config = EngineConfig(
        window=16, n_sink=2, prefill_chunk=8, mode="episodic", block=4, retrieval_heads=heads
    )
    engine = HebbianEngine(*tiny, config)
    engine.feed(ids(40))  # five chunks: the first four have chosen, the fifth's choice waits
    assert engine.strategy.chosen == 4 and engine.strategy.due


def test_what_is_read_changes_the_reply_and_true_positions_differ_from_fixed(tiny):
    def reply(**knobs):
        config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, block=4, **knobs)
        return generate(*tiny, config, compiled=True)[1]

    window, fixed, true = (
        reply(mode="off"),
        reply(mode="episodic"),
        reply(mode="episodic", recall_positions="true"),
    )
    assert not np.allclose(window, fixed, atol=1e-3) and not np.allclose(fixed, true, atol=1e-3)


@pytest.mark.parametrize(
    "min_bits, block, index_bits", [(4, 4, 0), (2, 32, 0), (2, 32, 8), (2, 32, 16)]
)
def test_a_saved_store_loads_back_whole_and_a_damaged_one_is_refused(
    wide, tiny, tmp_path, min_bits, block, index_bits
):
    config = EngineConfig(
        window=16,
        n_sink=2,
        mode="episodic",
        block=block,
        prefill_chunk=32,
        budget=0.3,
        min_bits=min_bits,
        index_bits=index_bits,
    )
    first = HebbianEngine(wide, tiny[1], config)
    first.score(ids(400), ids(10, 1))
    assert min_bits in {b.bits for b in first.strategy.complete()}  # quantized blocks saved too
    first.save(tmp_path / "m")
    second = HebbianEngine(wide, tiny[1], config)
    second.load(tmp_path / "m")
    a, b = first.strategy, second.strategy
    assert [x.positions.tolist() for x in a.complete()] == [
        x.positions.tolist() for x in b.complete()
    ]
    assert [(x.key_bits, x.bits) for x in a.complete()] == [
        (y.key_bits, y.bits) for y in b.complete()
    ]
    for x, y in zip(a.complete(), b.complete()):
        for layer in x.data:
            np.testing.assert_array_equal(
                np.array(a.block_keys(x, layer)), np.array(b.block_keys(y, layer))
            )
            np.testing.assert_array_equal(
                np.array(unpack(x.data[layer][1], x.bits, mx.float32)),
                np.array(unpack(y.data[layer][1], y.bits, mx.float32)),
            )
        assert x.index_bits == y.index_bits and set(x.index) == set(y.index)
        for layer in x.index:
            np.testing.assert_array_equal(
                np.array(a.finding_keys(x, layer)), np.array(b.finding_keys(y, layer))
            )
    assert any(x.index for x in a.complete()) == bool(index_bits)
    first.reset(keep_memory=True)
    assert first.score(ids(30, 2), ids(10, 3)) == second.score(ids(30, 2), ids(10, 3))
    arrays = a.state_dict()
    if not index_bits:  # a store saved before index keys existed loads as it was
        older = {k: x for k, x in arrays.items() if k != "blocks.index_bits"}
        second.strategy.load_state_dict(older, 1)
        assert len(second.strategy.blocks) == len(a.complete())
    if index_bits:  # an index's keys that do not fit its heads are refused
        j, name = next(
            (j, k)
            for j, x in enumerate(a.complete())
            for k in arrays
            if x.index and k.startswith(f"block{j}.index") and k.endswith(".heads")
        )
        with pytest.raises(ValueError, match=f"block{j}.index.* does not hold"):
            second.strategy.load_state_dict({**arrays, name: mx.array([0])}, 1)
    arrays.pop(next(k for k in arrays if k.startswith("block0.")))
    with pytest.raises(ValueError, match="missing array block0"):
        second.strategy.load_state_dict(arrays, 1)


def test_a_store_saved_before_keys_had_their_own_bits_loads_as_it_was(wide, tiny):
    """Such a store's 2-bit blocks had 2-bit keys and no blocks.key_bits."""
    config = EngineConfig(
        window=16, n_sink=2, mode="episodic", block=32, prefill_chunk=32, budget=0.3, min_bits=2
    )
    engine = HebbianEngine(wide, tiny[1], config)
    engine.score(ids(400), ids(10, 1))
    s, done = engine.strategy, engine.strategy.complete()
    low = [j for j, b in enumerate(done) if b.bits == 2]
    assert low and {done[j].key_bits for j in low} == {3}
    old = {k: x for k, x in s.state_dict().items() if k != "blocks.key_bits"}
    for j in low:
        for i in s.shapes:
            packed = pack(s.block_keys(done[j], i), 2, keys=True)
            old.update({f"block{j}.layer{i}.k{p}": x for p, x in enumerate(packed)})
    loaded = HebbianEngine(wide, tiny[1], config).strategy
    loaded.load_state_dict(old, 1)
    assert [b.key_bits for b in loaded.blocks] == [
        2 if j in low else b.key_bits for j, b in enumerate(done)
    ]
    layer = next(iter(s.shapes))
    stored = tuple(old[f"block{low[0]}.layer{layer}.k{p}"] for p in range(3))
    np.testing.assert_array_equal(
        np.array(loaded.block_keys(loaded.blocks[low[0]], layer)),
        np.array(unpack(stored, 2, loaded.dtype, keys=True)),
    )


def test_settings_that_cannot_work_are_refused(wide, tiny):
    with pytest.raises(ValueError, match="heavy hitters"):
        EngineConfig(mode="episodic", keep_important=4)
    with pytest.raises(ValueError, match="block must be a multiple of 32"):
        EngineConfig(mode="episodic", min_bits=2, block=16)
    with pytest.raises(ValueError, match="min_bits must be 2, 3, 4 or 8, got 1"):
        EngineConfig(mode="episodic", min_bits=1)
    with pytest.raises(ValueError, match="index_bits must be 0, 8 or 16, got 4"):
        EngineConfig(mode="episodic", index_bits=4)
    with pytest.raises(ValueError, match="multiples of 32"):  # tiny's heads are 16 wide
        make_strategy(tiny[0], EngineConfig(mode="episodic", min_bits=2), [0, 1])
    with pytest.raises(ValueError, match="not a KV head"):
        strategy(wide, retrieval_heads="1:7")
    with pytest.raises(ValueError, match="layer:kv_head"):
        strategy(wide, retrieval_heads="one")


def test_the_default_model_recalls_an_evicted_fact_that_the_window_has_lost(default_gguf):
    """Real model, real filler: two recall items of the tuning split (seed 7), window 128."""
    from hebbian.studies.tasks.recall import RecallTask

    task = RecallTask(
        {"model": "default", "corpus": "austen", "filler_chars": 1000, "max_tokens": 16}, seed=7
    )
    base = {"window": 128, "n_sink": 4, "prefill_chunk": 32}
    for item in task.items(2):
        window = task.run_trial(item, {**base, "mode": "off"}, seed=0)
        episodic = task.run_trial(item, {**base, "mode": "episodic"}, seed=0)
        assert window["distance"] > 132 and not window["correct"] and window["logprob"] < -15
        assert episodic["logprob"] > -3 and not episodic["degenerate"]
