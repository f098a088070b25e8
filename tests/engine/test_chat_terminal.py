"""`hebbian chat` in a pseudo-terminal, as a person uses it: long and multi-line pastes, Ctrl-C at
the prompt and during a long prompt, Ctrl-D to leave."""

import os
import sys
import time

import pexpect
import pytest
from gguf_fixtures import tiny_model, write_gguf

# what a terminal wraps a paste in (bracketed paste)
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.gguf"
    write_gguf(tiny_model("llama"), path, "llama")
    return str(path)


def spawn(model, *args):
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "NO_COLOR": "1"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "hebbian.cli", "chat", "-m", model, "--window", "64", "-n", "2", *args],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 200),
    )
    child.expect("you>")
    return child


def prompt_tokens(child) -> int:
    child.expect(r"\| prompt (\d+) tok")
    return int(child.match.group(1))


def leave(child):
    child.expect("you>")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_line_longer_than_the_terminal_line_limit_arrives_whole(model):
    child = spawn(model)
    # 6,100 characters, one token each; a tty's line mode keeps 4,095
    child.send("0123456789" * 610 + "\r")
    assert prompt_tokens(child) > 6100
    leave(child)


def test_a_multi_line_paste_is_one_turn(model):
    child = spawn(model)
    child.send(PASTE_START + "first line\nsecond line\nthird line" + PASTE_END)
    child.send("\r")
    child.expect(r"\| prompt \d+ tok")
    child.expect("you>")
    child.send("/stats\r")
    child.expect(r"tokens_seen\s*│\s*(\d+)")
    assert "| prompt" not in child.before  # one reply only, before /stats
    leave(child)


def test_ctrl_c_at_the_prompt_clears_the_line_and_ctrl_d_leaves(model):
    child = spawn(model)
    child.send("half a thought")
    child.sendcontrol("c")
    child.expect(r"type /quit to leave")
    leave(child)


def test_ctrl_c_during_a_long_prompt_cancels_the_turn_at_once(model):
    child = spawn(model, "--prefill-step-size", "1")  # one token a step: a long prefill
    child.send("0123456789" * 300 + "\r")
    # the prompt returned the line (bracketed paste off until the next)
    child.expect_exact("\x1b[?2004l")
    time.sleep(0.5)
    child.sendcontrol("c")
    child.expect(r"prompt stopped after ([\d.]+) s", timeout=20)
    assert float(child.match.group(1)) < 5  # the whole prompt takes ~13 s here
    assert "| prompt" not in child.before
    child.expect("you>")
    child.send("hi\r")
    assert prompt_tokens(child) < 100  # the cancelled prompt was not kept
    leave(child)
