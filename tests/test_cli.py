"""The command line as a newcomer reads it: every --help, and options that match the server."""

import contextlib
import io

import pytest

from inference import preprocess
from scripts import cli
from scripts.commands import invoke


def help_text(*args):
    output = io.StringIO()
    with contextlib.redirect_stdout(output), pytest.raises(SystemExit) as stopped:
        cli.build_parser().parse_args([*args, "--help"])
    assert stopped.value.code == 0
    return output.getvalue()


@pytest.mark.parametrize("command", [module.__name__.rsplit(".", 1)[1] for module in cli.COMMANDS])
def test_every_help_reads_as_plain_text(command):
    text = help_text(command)
    assert text.startswith(f"usage: sm-detect {command}")
    assert "``" not in text
    assert f"sm-detect {command}:" in text  # the description, from the module's docstring


def test_serve_help_names_the_default_model():
    assert "the newest build/model*.tar.gz" in help_text("serve")


def test_invoke_offers_every_mode_the_server_knows():
    assert invoke.MODES == preprocess.MODES
    assert "--mode {aspect,square320,square416,square608}" in help_text("invoke")
