"""The prepare-commit-msg hook (editor-clients/git-hook) on a real repository: `git commit`
without -m gets the message from a loopback model; -m, amends and merges are left alone; install is
idempotent, chains an existing hook, and --uninstall restores it."""

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CLIENTS, git
from .scripted import ANSWERS

INSTALL = CLIENTS / "git-hook" / "install.sh"


def install(repo: Path, env: dict, *args: str) -> str:
    """`hybridlsp install-hook`, through the editor-clients wrapper script."""
    env = {**env, "HYBRIDLSP": str(Path(sys.executable).with_name("hybridlsp"))}
    proc = subprocess.run(["sh", str(INSTALL), *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return proc.stdout


def last_message(repo: Path, env: dict) -> str:
    return git(repo, "log", "-1", "--format=%B", env=env).stdout.strip()


@pytest.fixture
def hooked(repo, editor_env):
    install(repo, editor_env)
    return repo


def test_commit_without_message_gets_the_generated_one(hooked, editor_env, scripted):
    git(hooked, "commit", env={**editor_env, "GIT_EDITOR": "true"})  # the editor accepts as is
    assert last_message(hooked, editor_env) == ANSWERS["commit-message"]
    assert scripted.actions == ["commit-message"]
    assert "def double(x):" in scripted.requests[-1].body.decode()  # the staged diff reached the model


def test_message_and_amend_are_left_alone(hooked, editor_env, scripted):
    git(hooked, "commit", "-m", "My own words", env=editor_env)
    assert last_message(hooked, editor_env) == "My own words"
    git(hooked, "commit", "--amend", "--no-edit", env={**editor_env, "GIT_EDITOR": "true"})
    assert last_message(hooked, editor_env) == "My own words"
    assert scripted.request_count == 0


def test_a_merge_is_left_alone(hooked, editor_env, scripted):
    git(hooked, "commit", "-m", "Add double", env=editor_env)
    git(hooked, "checkout", "-q", "-b", "side", "HEAD~1", env=editor_env)
    (hooked / "notes.txt").write_text("side work\n")
    git(hooked, "add", "notes.txt", env=editor_env)
    git(hooked, "commit", "-m", "Side notes", env=editor_env)
    git(hooked, "checkout", "-q", "main", env=editor_env)
    # --edit: git runs prepare-commit-msg with source "merge", then the editor, as in a terminal
    git(hooked, "merge", "--no-ff", "--edit", "side", env={**editor_env, "GIT_EDITOR": "true"})
    assert last_message(hooked, editor_env) == "Merge branch 'side'"
    assert git(hooked, "rev-list", "--parents", "-n1", "HEAD", env=editor_env).stdout.count(" ") == 2  # a merge
    assert scripted.request_count == 0


def test_no_model_never_blocks_a_commit(hooked, editor_env, scripted):
    scripted.down()
    proc = git(hooked, "commit", "--allow-empty-message", env={**editor_env, "GIT_EDITOR": "true"})
    assert "no commit message" in proc.stderr
    assert last_message(hooked, editor_env) == ""


def test_install_is_idempotent_chains_and_uninstalls(repo, editor_env):
    hooks = repo / ".git" / "hooks"
    theirs = hooks / "prepare-commit-msg"
    theirs.write_text('#!/bin/sh\necho "Signed-off-by: Them" >> "$1"\n')
    theirs.chmod(0o755)
    install(repo, editor_env)
    install(repo, editor_env)  # again: nothing changes
    assert (hooks / "prepare-commit-msg.chained").read_text().startswith("#!/bin/sh\necho")
    assert "hybridlsp prepare-commit-msg hook" in theirs.read_text()
    assert "@HYBRIDLSP@" not in theirs.read_text()  # the path found at install time

    git(repo, "commit", "-m", "Mine", env=editor_env)  # their hook still runs
    assert last_message(repo, editor_env) == "Mine\nSigned-off-by: Them"

    install(repo, editor_env, "--uninstall")
    assert theirs.read_text().startswith("#!/bin/sh\necho") and not (hooks / "prepare-commit-msg.chained").exists()
