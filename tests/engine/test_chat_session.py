"""ChatSession on a tiny model: Ctrl-C during a prompt, leaving with an unsaved memory, the system
prompt and the status line."""

import io
import os
import signal

from rich.console import Console

from hebbian.engine import EngineConfig, HebbianEngine, Strategy, register_strategy
from hebbian.engine.chat import ChatSession
from hebbian.engine.consolidation import base


def session(tiny, tmp_path, memory=None, system=None, max_tokens=4, **config):
    engine = HebbianEngine(*tiny, EngineConfig(**{"window": 8, "n_sink": 2, **config}))
    out, err = io.StringIO(), io.StringIO()
    chat = ChatSession(
        engine,
        Console(file=out),
        Console(file=err, width=400),
        out.write,
        max_tokens,
        {"temp": 0.0},
        memory,
        system,
    )
    return chat, out, err


class SignalsOnCall:
    """The engine's decoder, sending SIGINT to this process while it runs the n-th call."""

    def __init__(self, decoder, n):
        self.decoder, self.n, self.calls, self.calls_after = decoder, n, 0, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self.n:
            self.calls_after += 1
        if self.calls == self.n:
            os.kill(os.getpid(), signal.SIGINT)
        return self.decoder(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.decoder, name)


def test_ctrl_c_during_a_long_prompt_stops_between_chunks_and_cancels_the_turn(tiny, tmp_path):
    chat, out, err = session(tiny, tmp_path, prefill_chunk=4)
    chat.handle("hello")
    before, messages, seen = (
        chat.engine.transcript,
        list(chat.messages),
        chat.engine.diagnostics()["tokens_seen"],
    )
    decoder = chat.engine.decoder = SignalsOnCall(chat.engine.decoder, 2)
    err.truncate(0)
    out.truncate(0)
    chat.handle("a long prompt " * 20)  # ~280 tokens: 70 chunks of 4
    assert decoder.calls_after == 0  # not one more chunk once Ctrl-C came
    assert "prompt stopped" in err.getvalue() and "tok/s" not in err.getvalue()
    assert out.getvalue() == ""  # no reply
    assert chat.engine.transcript == before and chat.messages == messages
    assert chat.engine.diagnostics()["tokens_seen"] == seen
    chat.engine.decoder = decoder.decoder
    chat.handle("and now?")  # the chat goes on
    assert "| prompt" in err.getvalue()


def test_ctrl_c_during_a_reply_keeps_the_reply_so_far(tiny, tmp_path):
    chat, out, err = session(tiny, tmp_path, max_tokens=20)
    chat.engine.decoder = SignalsOnCall(chat.engine.decoder, 4)  # the prompt, then tokens
    chat.handle("hello")
    assert "(reply stopped)" in err.getvalue() and "| prompt" in err.getvalue()
    assert chat.messages[-1]["role"] == "assistant" and chat.messages[-1]["content"]


def test_quit_stays_while_the_memory_cannot_be_saved_and_leaves_when_asked_again(tiny, tmp_path):
    chat, out, err = session(tiny, tmp_path, memory=tmp_path / "gone" / "m.safetensors")
    chat.handle("hello")
    assert chat.handle("/quit") is True  # still here
    assert "no such folder" in err.getvalue() and "/quit again leaves" in err.getvalue()
    keep = tmp_path / "kept.safetensors"
    chat.handle(f"/save {keep}")
    assert keep.is_file()
    assert chat.handle("/quit") is False


def test_the_system_prompt_opens_every_conversation(tiny, tmp_path):
    chat, out, err = session(tiny, tmp_path, system="Answer briefly.", window=200)
    chat.handle("hello")
    assert chat.engine.transcript.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>")
    chat.handle("/reset")
    chat.handle("hello again")
    assert chat.engine.transcript.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>")


def test_the_status_line_gives_prompt_and_reply_figures_and_no_rate_for_one_token(tiny, tmp_path):
    chat, out, err = session(tiny, tmp_path, max_tokens=1)
    chat.handle("hello")
    line = err.getvalue().strip().splitlines()[-1]
    assert "| prompt " in line and "| reply 1 tok |" in line and "peak" in line
    assert line.count("tok/s") == 1  # the prompt's only


def test_the_status_line_says_what_episodic_memory_holds_and_reads(tiny, tmp_path):
    chat, out, err = session(
        tiny, tmp_path, max_tokens=4, mode="episodic", block=4, budget=float("inf")
    )
    chat.handle(" ".join(["hello there"] * 20))
    chat.handle("and again " * 5)
    line = err.getvalue().strip().splitlines()[-1]
    blocks = len(chat.engine.strategy.complete())
    assert blocks > 0 and f"| episodic {blocks} blocks, " in line and " read | prompt" in line


def test_a_mode_that_cannot_run_leaves_the_chat_as_it_was(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(base, "_STRATEGIES", dict(base._STRATEGIES))

    @register_strategy("picky")
    class Picky(Strategy):
        def __init__(self, config, model, layers):
            raise ValueError("mode 'picky' needs [what] this model lacks")

    chat, out, err = session(tiny, tmp_path, mode="slots")
    engine = chat.engine
    chat.handle("hello")
    assert chat.command("mode", "picky")  # the chat goes on
    assert chat.engine is engine and engine.config.mode == "slots"
    assert "/mode picky: mode 'picky' needs [what] this model lacks (still mode slots)" in (
        err.getvalue()
    )
    chat.handle("and now?")
