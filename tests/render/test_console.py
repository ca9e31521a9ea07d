"""Colour is decided once: only on a terminal, never with NO_COLOR or --no-color."""

from __future__ import annotations

import io

import pytest

from obsctl.render.console import OutputPolicy, interactive, make_console, wants_color


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_pipes_and_files_get_no_colour_or_progress():
    assert not wants_color(io.StringIO(), OutputPolicy())
    assert not interactive(io.StringIO(), OutputPolicy())


def test_terminal_gets_colour_unless_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert wants_color(FakeTTY(), OutputPolicy())
    assert not wants_color(FakeTTY(), OutputPolicy(no_color=True))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_color(FakeTTY(), OutputPolicy())


@pytest.mark.parametrize("no_color_env", ["", "1"])
def test_console_writes_plain_text_when_colour_is_off(monkeypatch, no_color_env):
    from rich.text import Text

    monkeypatch.setenv("NO_COLOR", no_color_env)
    out = FakeTTY() if no_color_env else io.StringIO()
    console = make_console(out, OutputPolicy())
    console.print(Text("ERROR", style="bold red"))
    assert out.getvalue() == "ERROR\n"


def test_quiet_suppresses_progress_even_on_a_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    assert interactive(FakeTTY(), OutputPolicy())
    assert not interactive(FakeTTY(), OutputPolicy(quiet=True))
