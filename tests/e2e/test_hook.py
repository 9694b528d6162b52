"""The prepare-commit-msg hook as `hybridlsp install-hook` installs it, through real git commands:
it writes a plain commit's message, leaves alone every message git already has (merges first), and
never blocks a commit. The model is faked on 127.0.0.1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import support

from .cli import cli, sent_text


# ---- the hook leaves merges (and every message git already has) alone ----------------------------

GENERATED = "Add a double helper"


@pytest.fixture
def hooked(server_env, repo, fake_ollama):
    """`repo` with the hook installed by `hybridlsp install-hook`, and its own commit message set."""
    assert "installed" in cli(server_env, repo, "install-hook").stdout
    fake_ollama.answer = GENERATED
    return repo


def _commit_env(server_env: dict) -> dict:
    return {**server_env, "GIT_EDITOR": "true"}  # the editor git opens accepts the message as it is


def _message(repo: Path, env: dict) -> str:
    return support.git(repo, "log", "-1", "--format=%B", env=env).stdout.strip()


def _two_branches(repo: Path, env: dict, conflict: bool) -> None:
    """main and `side`, each one commit past their fork; with `conflict`, both edit calc.py's line 5."""
    if conflict:
        (repo / "calc.py").write_text(support.CALC.replace("a / b", "a / (b or 1)"))
        support.git(repo, "add", "calc.py", env=env)
    support.git(repo, "commit", "-q", "-m", "Change divide", env=env)
    support.git(repo, "checkout", "-q", "-b", "side", "HEAD~1", env=env)
    if conflict:
        (repo / "calc.py").write_text(support.CALC.replace("a / b", "a // b"))
        support.git(repo, "add", "calc.py", env=env)
    else:
        (repo / "notes.txt").write_text("side work\n")
        support.git(repo, "add", "notes.txt", env=env)
    support.git(repo, "commit", "-q", "-m", "Side work", env=env)
    support.git(repo, "checkout", "-q", "main", env=env)


def test_the_hook_writes_the_message_of_a_plain_commit(hooked, server_env, fake_ollama):
    env = _commit_env(server_env)
    support.git(hooked, "commit", env=env)
    assert _message(hooked, env) == GENERATED
    assert fake_ollama.request_count == 1 and "def double(x):" in sent_text(fake_ollama)


def _merge_with_a_conflict(repo: Path, env: dict) -> str:
    _two_branches(repo, env, conflict=True)
    merging = subprocess.run(["git", "merge", "side"], cwd=repo, env={**env, **support.GIT_ENV}, capture_output=True,
                             text=True)
    assert merging.returncode == 1 and "CONFLICT" in merging.stdout, merging.stdout + merging.stderr
    (repo / "calc.py").write_text(support.CALC)  # resolved
    support.git(repo, "add", "calc.py", env=env)
    support.git(repo, "commit", env=env)  # git's source "merge", with MERGE_MSG: what a terminal does
    return "Merge branch 'side'"


def _merge_edited(repo: Path, env: dict) -> str:
    _two_branches(repo, env, conflict=False)
    support.git(repo, "merge", "--no-ff", "--edit", "side", env=env)
    return "Merge branch 'side'"


def _squash(repo: Path, env: dict) -> str:
    _two_branches(repo, env, conflict=False)
    support.git(repo, "merge", "--squash", "side", env=env)
    support.git(repo, "commit", env=env)  # source "squash", with SQUASH_MSG
    return "Squashed commit of the following:"


def _amend(repo: Path, env: dict) -> str:
    support.git(repo, "commit", "-q", "-m", "My own words", env=env)
    support.git(repo, "commit", "--amend", env=env)  # source "commit"
    return "My own words"


def _reuse(repo: Path, env: dict) -> str:
    support.git(repo, "commit", "-q", "-m", "Words to reuse", env=env)
    (repo / "notes.txt").write_text("more\n")
    support.git(repo, "add", "notes.txt", env=env)
    support.git(repo, "commit", "-c", "HEAD", env=env)  # source "commit", from another commit
    return "Words to reuse"


def _message_flag(repo: Path, env: dict) -> str:
    support.git(repo, "commit", "-m", "Typed with -m", env=env)
    return "Typed with -m"


def _empty_message_flag(repo: Path, env: dict) -> str:
    # -m "": the person asked for no message; only the source ("message") says so, the file is empty
    support.git(repo, "commit", "--allow-empty-message", "-m", "", env=env)
    return ""


def _file_flag(repo: Path, env: dict) -> str:
    (repo.parent / "msg.txt").write_text("From a file\n")
    support.git(repo, "commit", "-F", str(repo.parent / "msg.txt"), env=env)
    return "From a file"


def _template_with_text(repo: Path, env: dict) -> str:
    (repo.parent / "template.txt").write_text("Team template subject\n\n# Why:\n")
    edit = repo.parent / "edit.sh"  # git refuses a template left unedited: the person adds a line
    edit.write_text('#!/bin/sh\necho "Edited by hand." >> "$1"\n')
    edit.chmod(0o755)
    support.git(repo, "-c", f"commit.template={repo.parent / 'template.txt'}", "commit",
                env={**env, "GIT_EDITOR": str(edit)})
    return "Team template subject"


@pytest.mark.parametrize("given", [_merge_with_a_conflict, _merge_edited, _squash, _amend, _reuse, _message_flag,
                                   _empty_message_flag, _file_flag, _template_with_text],
                         ids=lambda f: f.__name__.strip("_"))
def test_the_hook_leaves_a_message_git_already_has_alone(hooked, server_env, fake_ollama, given):
    env = _commit_env(server_env)
    expected = given(hooked, env)
    said = _message(hooked, env)
    assert said.startswith(expected) if expected else said == ""
    assert GENERATED not in said
    assert fake_ollama.request_count == 0


def test_the_hook_never_blocks_a_commit(hooked, server_env, fake_ollama, fake_openai):
    fake_ollama.down()  # no model answers (and the tests' config has no embedded model)
    fake_openai.down()
    env = _commit_env(server_env)
    done = support.git(hooked, "commit", "--allow-empty-message", env=env)
    # why, on stderr and as '#' lines in the message file (git drops them: the message is empty)
    assert "hybridlsp: no commit message: every tier failed: tier1:ollama/model-a" in done.stderr
    assert _message(hooked, env) == "" and "def double" in support.git(hooked, "show", "HEAD", env=env).stdout
