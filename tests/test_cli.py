import subprocess
import sys

import pytest

from kayou_dispatch.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "demo" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["serve", "gateway"])
def test_server_help_gives_the_token_file_format(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ('"role": "dispatcher"', '"responder_id"', '"requester_id"', "status 2"):
        assert word in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: kayou-dispatch" in capsys.readouterr().out


def test_demo_runs_small(capsys):
    assert main(["demo", "--responders", "3000", "--minutes", "1", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "indexed 3,000 responders" in out
    assert "nearest 5 available with a tow rig" in out


@pytest.mark.parametrize("bad", [["demo", "--responders", "0"], ["demo", "--minutes", "x"]])
def test_bad_counts_are_refused_before_work(bad, capsys):
    with pytest.raises(SystemExit) as info:
        main(bad)
    assert info.value.code == 2
    assert "must be a whole number >= 1" in capsys.readouterr().err


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "kayou_dispatch.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "kayou-dispatch" in out.stdout
