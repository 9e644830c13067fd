"""README and the guides in docs/ say only what is so: every `sm-detect` line in their shell
blocks is one the command line accepts, every link and photo they name exists, the --dry-run
sentence names exactly the commands that take it, and README stays a landing page.
(Their local examples run as written: tests/serving/test_guides.py.)"""

import pathlib
import re
import shlex

import pytest

from scripts import cli

REPO = pathlib.Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def shell_lines(page):
    """Each command of the page's shell blocks, continuation lines joined, comments dropped."""
    for block in SHELL_BLOCK.findall(page.read_text()):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split(" # ")[0].split("   #")[0].strip()
            if command and not command.startswith("#"):
                yield command


def sm_detect_calls(page):
    """The argument lists of every `.venv/bin/sm-detect` call in the page's shell blocks."""
    for command in shell_lines(page):
        for call in re.findall(r"\.venv/bin/sm-detect ([^&|;)]*)", command):
            yield shlex.split(call)


def parses(argv):
    """None when the real parser accepts ``argv``, else what it said."""
    try:
        cli.build_parser().parse_args(argv)
    except SystemExit as refused:
        return f"exit {refused.code}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_command_line_in_the_docs_is_one_the_cli_accepts(page, capsys):
    refused = {" ".join(argv): parses(argv) for argv in sm_detect_calls(page)}
    capsys.readouterr()
    assert not {call: why for call, why in refused.items() if why}


def test_the_docs_show_commands_at_all():
    # the pattern above finds them: a guide that lost its commands would pass vacuously
    assert sum(1 for page in PAGES for _ in sm_detect_calls(page)) > 50


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_and_path_the_docs_name_exists(page):
    text = page.read_text()
    missing = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and anchor not in headings(linked)):
            missing.append(target)
    for command in shell_lines(page):
        missing += [p for p in re.findall(r"docs/[\w.-]+", command) if not (REPO / p).exists()]
    assert not missing


def headings(page):
    """GitHub's anchors of a page's headings."""
    titles = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-") for title in titles}


def test_the_dry_run_sentence_names_exactly_the_commands_that_take_it(capsys):
    guide = (REPO / "docs" / "deploy.md").read_text()
    sentence = re.search(r"Every subcommand that changes something\s+in AWS \((.*?)\)", guide, re.S)
    rehearsed = set(re.findall(r"`(\w+)`", sentence[1]))
    parser = cli.build_parser()
    takes_it = {
        name
        for name, command in parser.commands.items()
        if any("--dry-run" in action.option_strings for action in command._actions)
    }
    assert rehearsed == takes_it
    refusing = re.search(r"those that only call or\s+read \((.*?)\)", guide, re.S)
    for name in re.findall(r"`(\w+)`", refusing[1]):
        assert name not in takes_it


def test_readme_is_a_landing_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    # the two commands, and a call with a photo that is in the repository
    assert "make serve" in readme and "make test" in readme
    assert "@docs/astronaut.jpg" in readme and (REPO / "docs" / "astronaut.jpg").exists()
