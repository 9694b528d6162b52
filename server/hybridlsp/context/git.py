"""Git context for prompts: staged and per-file diffs, branch, recent commit subjects.

Diffs come from the `git` command through GitPython (`repo.git`), not from
`repo.index.diff("HEAD", create_patch=True)`, whose patches are reversed. Their text is split
per file and sorted into kept and left out by `context.diff`; `context.chunks.budget_diff` packs
it into chunks that fit a token budget.

Everything here blocks (it runs git); callers run it off the event loop. A Repo from `repo_for`
should be closed (`with repo:`) when done.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from git import Repo
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from .chunks import budget_diff
from .diff import DiffFile, DiffSummary, summarize_diff

__all__ = [
    "EMPTY_TREE",
    "DiffFile",
    "DiffSummary",
    "GitContext",
    "branch_name",
    "budget_diff",
    "file_diff",
    "git_context",
    "recent_subjects",
    "repo_for",
    "staged_diff",
    "summarize_diff",
]

# The id of the empty tree: the base to diff against on a branch with no commits yet.
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

# Pin every option a user's config could change about the output we parse.
_DIFF_OPTIONS = (
    "-M",  # renames show as renames even with diff.renames=false
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",  # binary files stay "Binary files differ"
    "--submodule=short",  # "Subproject commit <sha>" lines, whatever diff.submodule says
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


@dataclass(frozen=True)
class GitContext:
    """What the commit-message action needs to know about a repository."""

    root: str
    branch: str
    recent_subjects: list[str]
    staged: DiffSummary


def repo_for(path: str | os.PathLike[str]) -> Repo | None:
    """The repository holding `path` (searching parent directories), or None."""
    p = Path(path).resolve()
    while not p.exists() and p != p.parent:  # a file not saved yet: start from its directory
        p = p.parent
    try:
        repo = Repo(p, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError):
        return None
    return None if repo.bare else repo


def _git(repo: Repo, *args: str, ok_codes: tuple[int, ...] = (0,)) -> str:
    # Bytes in, decoded here: GitPython's surrogateescape strings would break tiktoken and JSON.
    status, out, err = repo.git.execute(
        ["git", "-c", "core.quotepath=off", *args],
        with_extended_output=True,
        with_exceptions=False,
        stdout_as_string=False,
        strip_newline_in_stdout=False,
    )  # GitPython already runs git with LC_ALL=C, so messages are in English
    if status not in ok_codes:
        raise GitCommandError(["git", *args], status, err)
    return out.decode("utf-8", errors="replace")


def _head_sha(repo: Repo) -> str | None:
    # rev-parse rather than repo.head.commit: GitPython's object database would start a
    # persistent `git cat-file` process per Repo, which a long-running server would leak.
    return _git(repo, "rev-parse", "--verify", "-q", "HEAD", ok_codes=(0, 1)).strip() or None


def _has_commits(repo: Repo) -> bool:
    return _head_sha(repo) is not None


def branch_name(repo: Repo) -> str:
    """The current branch, or "HEAD detached at <sha7>" like `git status` says."""
    if repo.head.is_detached:
        return f"HEAD detached at {(_head_sha(repo) or '')[:7]}"
    return repo.head.reference.name  # read from .git/HEAD: also right on an unborn branch


def recent_subjects(repo: Repo, n: int = 10) -> list[str]:
    """Subjects of the last `n` non-merge commits (newest first); [] when there are none."""
    if n <= 0 or not _has_commits(repo):
        return []
    out = _git(repo, "log", f"-n{n}", "--no-merges", "--format=%s")
    return [line for line in out.splitlines() if line]


def staged_diff(repo: Repo) -> DiffSummary:
    """What `git commit` would record: the index against HEAD (or the empty tree)."""
    base = "HEAD" if _has_commits(repo) else EMPTY_TREE
    return summarize_diff(_git(repo, "diff", "--cached", *_DIFF_OPTIONS, base), root=repo.working_tree_dir)


def file_diff(repo: Repo, path: str | os.PathLike[str]) -> DiffSummary:
    """One file's working-tree changes against HEAD (staged or not); an untracked file as added."""
    root = str(repo.working_tree_dir)
    target = Path(root, path)  # a relative path is taken from the repository root
    rel = os.path.relpath(target.resolve(), Path(root).resolve()).replace(os.sep, "/")
    if rel == ".." or rel.startswith("../"):
        return summarize_diff("")  # outside this repository (e.g. through a symlink): no diff
    base = "HEAD" if _has_commits(repo) else EMPTY_TREE
    text = _git(repo, "diff", *_DIFF_OPTIONS, base, "--", rel)
    if not text and os.path.isfile(os.path.join(root, rel)) and not _git(repo, "ls-files", "--", rel):
        # Untracked: git diff ignores it, --no-index shows it as a new file (exit 1 = differs).
        text = _git(repo, "diff", "--no-index", *_DIFF_OPTIONS, "--", "/dev/null", rel, ok_codes=(0, 1))
    return summarize_diff(text, root=root)


def git_context(path: str | os.PathLike[str], n_subjects: int = 10) -> GitContext | None:
    """Branch, recent subjects and staged diff of the repository holding `path`, or None."""
    repo = repo_for(path)
    if repo is None:
        return None
    with repo:
        return GitContext(
            root=str(repo.working_tree_dir),
            branch=branch_name(repo),
            recent_subjects=recent_subjects(repo, n_subjects),
            staged=staged_diff(repo),
        )
