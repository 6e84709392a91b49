"""The ``ibstream`` dispatcher: subcommands listed, global options, usage errors."""

from __future__ import annotations

import pytest

from ibstream.cli.main import build_parser, main

from .conftest import run_cli


def test_every_subcommand_is_registered() -> None:
    parser = build_parser()
    text = parser.format_help()
    for name in ("demo", "watch", "status", "record", "replay", "plot", "sim"):
        assert name in text
    assert "--log-level" in text and "-v" in text


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_replay_missing_file_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "does-not-exist.jsonl"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ibstream replay: ") and err.count("\n") == 1


def test_verbose_logs_go_to_stderr() -> None:
    result = run_cli("-v", "demo", "--duration", "0.5", "--no-orders")
    assert result.code == 0
    assert "INFO" in result.err and "ibstream.client" in result.err
