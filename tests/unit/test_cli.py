"""The command line as a newcomer reads it: every --help, and options that match the server."""

import argparse
import contextlib
import io
import os
import subprocess
import sys

import pytest

from inference import preprocess
from scripts import cli


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
    assert "--mode {" + ",".join(preprocess.MODES) + "}" in help_text("invoke")


def test_the_command_line_starts_without_mxnet():
    # --help and the AWS commands must not pay for MXNet (nor need it: the serving set has it,
    # the deployment set does not)
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, scripts.cli; print('mxnet' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.stdout.strip() == "False", imported.stderr


def broken(_args):
    raise RuntimeError("the signer lost its key")


def test_a_bug_is_one_line_saying_so_with_the_traceback_kept(monkeypatch, capsys):
    from scripts.commands import upload

    monkeypatch.setattr(upload, "run", broken)
    assert cli.main(["upload", "model.tar.gz", "s3://bucket/models/"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sm-detect upload: unexpected error, a bug in sm-detect: RuntimeError:")
    kept = line.split("the traceback is in ", 1)[1].split(";", 1)[0]
    with open(kept, encoding="utf-8") as file:
        saved = file.read()
    os.remove(kept)
    assert "Traceback (most recent call last)" in saved and "the signer lost its key" in saved


def test_debug_shows_the_traceback(monkeypatch, capsys):
    from scripts.commands import upload

    monkeypatch.setattr(upload, "run", broken)
    assert cli.main(["--debug", "upload", "model.tar.gz", "s3://bucket/models/"]) == 2
    errors = capsys.readouterr().err
    assert "Traceback (most recent call last)" in errors and "the traceback is above" in errors


@pytest.mark.parametrize(
    "argv",
    [
        ["teardown", "--endpoint", "yolo"],
        ["up", "--endpoint", "yolo", "--s3", "s3://bucket/models/"],
        ["deploy", "--endpoint", "yolo", "--model-data", "s3://bucket/k", "--image", "i"],
        ["scale", "--endpoint", "yolo"],
        ["expose", "--endpoint", "yolo"],
        ["push"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_users_mistake_is_one_line_and_exit_1(argv, capsys):
    assert cli.main([*argv, "--profile", "no-such-profile"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"sm-detect {argv[0]}: ") and "no-such-profile" in line


DEPLOY = ["deploy", "--endpoint", "y", "--model-data", "s3://bucket/k", "--image", "i"]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([*DEPLOY, "--env", "NOEQUALS"], "argument --env: takes KEY=VALUE, got 'NOEQUALS'"),
        (
            [*DEPLOY, "--data-capture", "s3://bucket/c", "--capture-percent", "101"],
            "argument --capture-percent: takes a whole number from 1 to 100, got '101'",
        ),
        ([*DEPLOY, "--async-output", "b/out"], "takes an s3://BUCKET/PREFIX address, got 'b/out'"),
        (["gateway", "--public", "--rate", "0"], "argument --rate: takes a number above 0"),
        (["expose", "--endpoint", "y", "--burst", "1.5"], "takes a whole number >= 1, got '1.5'"),
        (["gateway", "--port", "70000"], "takes a whole number from 0 to 65535, got '70000'"),
        (["demo", "--port", "70000"], "takes a whole number from 0 to 65535, got '70000'"),
        (["serve", "--port", "-1"], "takes a whole number from 0 to 65535, got '-1'"),
        (
            ["invoke", "x.jpg", "--treshold", "0.1"],
            "unrecognized arguments: --treshold 0.1; --treshold: did you mean --threshold?",
        ),
    ],
    ids=[
        "env",
        "capture-percent",
        "async-output",
        "rate",
        "burst",
        "gateway-port",
        "demo-port",
        "serve-port",
        "typo",
    ],
)
def test_option_values_are_checked_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 1  # a user's mistake; 2 is kept for bugs
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"sm-detect {argv[0]}: ") and message in line
    assert f"`sm-detect {argv[0]} --help` lists the options" in line


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["invoke", "--url", "http://127.0.0.1:9", "{image}", "--draw", "/nonexistent/x.jpg"],
            "cannot write /nonexistent/x.jpg: its folder does not exist",
        ),
        (
            ["package", "--weights", "random", "--classes", "/nonexistent.txt", "-o", "{out}"],
            "cannot read the class list /nonexistent.txt: No such file or directory",
        ),
        (
            [
                "gateway",
                "--public",
                "--api-key",
                "k" * 20,
                "--port",
                "0",
                "--cert",
                "/nonexistent.pem",
                "--key",
                "/nonexistent.key",
            ],
            "cannot use the TLS certificate /nonexistent.pem with key /nonexistent.key",
        ),
        (
            [
                "gateway",
                "--endpoint",
                "y",
                "--port",
                "0",
                "--cert-dir",
                "{out}",
                "--variant",
                "a=http://127.0.0.1:1",
                "--capture",
                "/proc/nowhere",
            ],
            "cannot write captures to /proc/nowhere",
        ),
    ],
    ids=["draw", "classes", "cert", "capture"],
)
def test_missing_files_are_a_users_mistake_not_a_bug(argv, message, capsys, tmp_path):
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"not sent: the mistake is found first")
    argv = [part.format(image=image, out=tmp_path / "m.tar.gz") for part in argv]
    assert cli.main(argv) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith(f"sm-detect {argv[0]}: ") and message in line
    assert "bug" not in capsys.readouterr().err


@pytest.mark.parametrize("command", [module.__name__.rsplit(".", 1)[1] for module in cli.COMMANDS])
def test_help_shows_real_defaults_once(command):
    (subcommands,) = (
        action
        for action in cli.build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    formatter = cli.HelpWithDefaults(f"sm-detect {command}")
    for action in subcommands.choices[command]._actions:
        help_string = formatter._get_help_string(action) or ""
        shown = help_string % vars(action) if "%(default)" in help_string else help_string
        assert "(default: None)" not in shown and "(default: False)" not in shown
        assert shown.count("(default: ") <= 1, action.option_strings
