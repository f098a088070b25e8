"""HebbianEngine: a model behind a bounded, consolidating cache, used as a conversation.

One cache (and one strategy state) is kept across calls: each call feeds only what is new,
whether raw text, token ids or a chat conversation (rendered with the model's chat template and
compared with what was fed so far). Generation runs through mlx-lm's `stream_generate` with the
engine's caches as its prompt cache, its steady decoding steps compiled whole (compiled.py);
scoring feeds text teacher-forced through the same cache, so the log-probabilities it returns
reflect eviction and consolidation. A call that fails half way (an exception inside the forward
pass) is undone: the state returns to where it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.generate import GenerationResponse, stream_generate
from mlx_lm.sample_utils import make_sampler
from mlx_lm.tokenizer_utils import TokenizerWrapper

from .cache import HebbianCache, full_attention_layers, make_cache
from .compiled import SteadyDecoder
from .config import EngineConfig
from .consolidation import make_strategy
from .patch import patched
from .state import StateFileError, fingerprint, load_state, save_state

Prompt = str | Sequence[int] | Sequence[dict]  # text, token ids, or chat messages


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


class HebbianEngine:
    def __init__(self, model: nn.Module, tokenizer, config: EngineConfig | None = None):
        self.model = model
        self.tokenizer = (
            tokenizer if isinstance(tokenizer, TokenizerWrapper) else TokenizerWrapper(tokenizer)
        )
        self.config = config or EngineConfig()
        self.strategy = make_strategy(model, self.config, full_attention_layers(model))
        self.decoder = SteadyDecoder(model, self.strategy)  # what generation runs: see compiled.py
        self._fingerprint = None
        self.reset()

    # --- conversation --------------------------------------------------------------------------

    def reset(self, keep_memory: bool = False) -> None:
        """Start a new conversation (empty window); also forget the consolidated state unless keep_memory."""
        self.cache = make_cache(self.model, self.config, self.strategy)
        # the counters every HebbianCache layer shares (timeline.py)
        self.timeline = next(c.timeline for c in self.cache if isinstance(c, HebbianCache))
        self.transcript = ""  # the text fed so far
        self._next_logprobs = None  # after the last token fed, when it was fed by score/feed
        self.strategy.end_conversation() if keep_memory else self.strategy.reset()

    def stream(
        self,
        prompt: Prompt,
        max_tokens: int = 256,
        temp: float = 0.0,
        stop: Callable[[], bool] | None = None,
        sampler: Callable[[mx.array], mx.array] | None = None,
        logits_processors: list[Callable] | None = None,
    ) -> Iterator[GenerationResponse]:
        """Feed what is new in `prompt` and generate, yielding mlx-lm GenerationResponses.

        `sampler` (mlx-lm's make_sampler: top-p, min-p, XTC...) replaces the greedy or `temp` one;
        `logits_processors` (make_logits_processors: repetition penalty, logit bias) go to
        stream_generate, which hands them this call's prompt and reply tokens.
        `stop` is asked after each token; true ends the reply there. Closing the generator early
        keeps what was generated so far in the conversation. Finish or close it before using the
        model otherwise: the engine's patch stays installed while it is suspended.
        """
        tokens, text = self._encode(prompt)
        snapshot, generated, kept = self._snapshot(), [], False
        try:
            with (
                patched(self.model, self.strategy),
                closing(
                    stream_generate(
                        self.decoder,
                        self.tokenizer,
                        mx.array(tokens),
                        max_tokens=max_tokens,
                        sampler=sampler or make_sampler(temp),
                        logits_processors=logits_processors,
                        prompt_cache=self.cache,
                        prefill_step_size=self.config.prefill_chunk,
                    )
                ) as responses,
            ):
                for response in responses:
                    # generate_step has fed it to the model already
                    generated.append(response.token)
                    yield response
                    if stop is not None and stop():
                        break
            kept = True
        except GeneratorExit:
            kept = True
            raise
        finally:
            if kept:
                self._fed(text + self.tokenizer.decode(generated), None)
            else:
                self._restore(snapshot)

    def generate(self, prompt: Prompt, max_tokens: int = 256, temp: float = 0.0) -> str:
        """The reply to `prompt`, as text (without the end-of-sequence token)."""
        return "".join(r.text for r in self.stream(prompt, max_tokens, temp))

    def feed(self, prompt: Prompt) -> None:
        """Feed `prompt` without generating (to score continuations of it next, for example)."""
        self.score(prompt, [])

    def score(self, context: Prompt, continuation: str | Sequence[int]) -> list[float]:
        """Log-probabilities of each continuation token, fed teacher-forced after `context`
        through the engine's cache; both stay fed. An empty context continues what was fed."""
        ctx, text = self._encode(context, allow_empty=True)
        cont = (
            self.tokenizer.encode(continuation, add_special_tokens=False)
            if isinstance(continuation, str)
            else list(continuation)
        )
        if not ctx and cont and self._next_logprobs is None:
            raise ValueError(
                "score needs a context: nothing fed so far was scored or fed with feed()"
            )
        tokens, first = ctx + cont, len(ctx) - 1  # the output at `first` predicts cont[0]
        scores, logprobs, snapshot = [], self._next_logprobs, self._snapshot()
        try:
            with patched(self.model, self.strategy):
                for start in range(0, len(tokens), self.config.prefill_chunk):
                    chunk = tokens[start : start + self.config.prefill_chunk]
                    out = self.model(mx.array(chunk)[None], cache=self.cache)[0]
                    lo = max(first, start)
                    if lo < start + len(chunk):  # this chunk's outputs predict continuation tokens
                        if first < 0 and start == 0:
                            scores.append(logprobs[cont[0]])
                        rows = out[lo - start :]
                        rows = rows - mx.logsumexp(rows, axis=-1, keepdims=True)
                        targets = mx.array(tokens[lo + 1 : start + len(chunk) + 1], dtype=mx.int32)
                        scores.append(
                            mx.take_along_axis(rows[: len(targets)], targets[:, None], axis=-1)[
                                :, 0
                            ]
                        )
                        logprobs = rows[-1]
                    mx.eval(scores, [c.state for c in self.cache], self._strategy_arrays())
        except BaseException:
            self._restore(snapshot)
            raise
        self._fed(text + self.tokenizer.decode(cont), logprobs)
        return [float(x) for s in scores for x in mx.atleast_1d(s).tolist()]

    @contextmanager
    def fork(self):
        """Everything fed inside the block is forgotten when it ends."""
        snapshot = self._snapshot()
        try:
            yield self
        finally:
            self._restore(snapshot)

    # --- consolidated state ----------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.model)
        return self._fingerprint

    def save(self, path: str | Path) -> None:
        """Write the consolidated state (not the window) to `path`, atomically."""
        arrays = self.strategy.state_dict()
        mx.eval(arrays)
        save_state(path, arrays, self.config, self.fingerprint, self.strategy.consolidated)

    def load(self, path: str | Path) -> None:
        """Replace the consolidated state with the one in `path`; StateFileError (and nothing
        changed) if it is unreadable or made for another model or mode."""
        arrays, meta = load_state(path, self.config, self.fingerprint)
        try:
            self.strategy.load_state_dict(arrays, int(meta.get("consolidated", 0)))
        except ValueError as e:
            raise StateFileError(f"{path}: does not fit this engine's configuration: {e}") from e

    def diagnostics(self) -> dict[str, float | int | str]:
        """Where the engine stands: tokens seen, held, evicted and consolidated, bytes held by the
        cache and by the consolidated state, and the strategy's averages over layers ("mass",
        "update_norm", "stiff_fraction", "decay", "slots_used"...)."""
        t = self.timeline
        out = {
            "mode": self.config.mode,
            "tokens_seen": t.seen,
            "held": t.layout.held,
            "capacity": self.config.capacity,
            "evicted": t.evicted,
            "consolidated": self.strategy.consolidated,
            "cache_bytes": sum(getattr(c, "nbytes", 0) for c in self.cache),
            "memory_bytes": self.strategy.nbytes,
            "mass": 0.0,
            "decay": self.config.decay,
        }
        return out | self.strategy.diagnostics()

    # --- internals -------------------------------------------------------------------------------

    def _strategy_arrays(self) -> list[mx.array]:
        return self.strategy.arrays()

    def _encode(self, prompt: Prompt, allow_empty: bool = False) -> tuple[list[int], str]:
        """(new tokens, their text) for a prompt: chat messages are rendered and only the part
        after what was already fed is kept; text gets the tokenizer's special tokens only first."""
        first = self.transcript == ""
        if isinstance(prompt, str):
            text = prompt
            tokens = self.tokenizer.encode(text, add_special_tokens=first) if text else []
        elif prompt and isinstance(prompt[0], dict):
            rendered = self.tokenizer.apply_chat_template(
                list(prompt), add_generation_prompt=True, tokenize=False
            )
            text = rendered[_common_prefix(self.transcript, rendered) :]
            tokens = self.tokenizer.encode(text, add_special_tokens=False)
        else:
            tokens = [int(t) for t in prompt]
            text = self.tokenizer.decode(tokens)
        if not tokens and not allow_empty:
            raise ValueError(
                "nothing new to feed: the prompt adds no tokens to what was fed before"
            )
        return tokens, text

    def _fed(self, text: str, next_logprobs: mx.array | None) -> None:
        """Close a call: record what was fed and hand over the evicted tokens still pending."""
        self.transcript += text
        self._next_logprobs = next_logprobs
        hebbian = [c for c in self.cache if isinstance(c, HebbianCache)]
        hebbian[0].flush()  # every layer's
        mx.eval([c.state for c in hebbian], self._strategy_arrays())

    def _snapshot(self) -> tuple:
        """The conversation's state: each cache's, the timeline's, the strategy's (Snapshots)."""
        caches = [c.snapshot() if isinstance(c, HebbianCache) else _copy(c) for c in self.cache]
        shared = self.timeline.snapshot(), self.strategy.snapshot()
        return caches, shared, self.transcript, self._next_logprobs

    def _restore(self, snapshot: tuple) -> None:
        caches, (timeline, strategy), self.transcript, self._next_logprobs = snapshot
        for i, saved in enumerate(caches):
            if isinstance(self.cache[i], HebbianCache):
                self.cache[i].restore(saved)
            else:
                self.cache[i] = _copy(saved)
        self.timeline.restore(timeline)
        self.strategy.restore(strategy)


def _copy(cache):
    """A copy of one of mlx-lm's own caches (the model's sliding-window layers keep theirs),
    which write into their arrays in place: the copy's arrays are new ones."""
    twin = copy.copy(cache)
    for name, value in vars(cache).items():
        if isinstance(value, mx.array):
            setattr(twin, name, mx.array(value))
    return twin
