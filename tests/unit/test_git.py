"""context.git against real repositories built with the git command in temporary directories."""

import subprocess
from pathlib import Path

import pytest

from hybridlsp.context import (
    EMPTY_TREE,
    DiffSummary,
    branch_name,
    budget_diff,
    count_tokens,
    file_diff,
    git_context,
    recent_subjects,
    repo_for,
    staged_diff,
    summarize_diff,
)


@pytest.fixture(autouse=True)
def git_identity(monkeypatch, tmp_path):
    # A fresh machine has no git identity, and a developer's global config must not leak in.
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "Test")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "test@example.com")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def commit_all(path: Path, message: str) -> str:
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD").strip()


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def by_path(summary: DiffSummary) -> dict:
    return {f.path: f for f in summary.files}


@pytest.fixture
def repo_dir(tmp_path):
    return new_repo(tmp_path / "repo")


# --- finding the repository ---------------------------------------------------------------------


def test_not_a_repository(tmp_path):
    (tmp_path / "plain").mkdir()
    assert repo_for(tmp_path / "plain") is None
    assert git_context(tmp_path / "plain") is None


def test_repo_for_searches_parents_and_unsaved_files(repo_dir):
    write(repo_dir / "pkg" / "mod.py", "x = 1\n")
    for where in (repo_dir, repo_dir / "pkg", repo_dir / "pkg" / "mod.py", repo_dir / "pkg" / "not_saved_yet.py"):
        repo = repo_for(where)
        assert repo is not None and Path(repo.working_tree_dir) == repo_dir.resolve()


# --- branch and history -------------------------------------------------------------------------


def test_no_commits_yet(repo_dir):
    write(repo_dir / "a.py", "print('first')\n")
    git(repo_dir, "add", "a.py")
    repo = repo_for(repo_dir)
    assert branch_name(repo) == "main"
    assert recent_subjects(repo) == []
    summary = staged_diff(repo)
    assert [(f.path, f.status) for f in summary.files] == [("a.py", "added")]
    assert "+print('first')" in summary.kept_text
    # The same as git's own diff against the empty tree.
    assert summary.kept_text == git(repo_dir, "diff", "--cached", EMPTY_TREE)


def test_recent_subjects_newest_first_and_limited(repo_dir):
    for i in range(4):
        write(repo_dir / "f.txt", f"{i}\n")
        commit_all(repo_dir, f"feat: step {i}\n\nbody line that is not a subject")
    repo = repo_for(repo_dir)
    assert recent_subjects(repo, 3) == ["feat: step 3", "feat: step 2", "feat: step 1"]
    assert recent_subjects(repo, 0) == []


def test_recent_subjects_leave_out_merges(repo_dir):
    write(repo_dir / "f.txt", "base\n")
    commit_all(repo_dir, "base")
    git(repo_dir, "checkout", "-q", "-b", "side")
    write(repo_dir / "g.txt", "side\n")
    commit_all(repo_dir, "side work")
    git(repo_dir, "checkout", "-q", "main")
    git(repo_dir, "merge", "-q", "--no-ff", "-m", "Merge branch 'side'", "side")
    # Both commits share a timestamp, so only the set is certain.
    assert sorted(recent_subjects(repo_for(repo_dir))) == ["base", "side work"]


def test_detached_head(repo_dir):
    write(repo_dir / "f.txt", "1\n")
    sha = commit_all(repo_dir, "one")
    write(repo_dir / "f.txt", "2\n")
    commit_all(repo_dir, "two")
    git(repo_dir, "checkout", "-q", "--detach", sha)
    repo = repo_for(repo_dir)
    assert branch_name(repo) == f"HEAD detached at {sha[:7]}"
    assert recent_subjects(repo) == ["one"]


# --- staged diff --------------------------------------------------------------------------------


def test_nothing_staged(repo_dir):
    write(repo_dir / "f.txt", "1\n")
    commit_all(repo_dir, "one")
    write(repo_dir / "f.txt", "changed but not staged\n")
    summary = staged_diff(repo_for(repo_dir))
    assert summary.files == [] and summary.kept_text == ""
    assert summary.total_tokens == 0 and summary.files_changed == 0 and summary.omitted == []


def test_staged_patch_is_not_reversed(repo_dir):
    write(repo_dir / "f.py", "old = 1\n")
    commit_all(repo_dir, "one")
    write(repo_dir / "f.py", "new = 2\n")
    git(repo_dir, "add", "f.py")
    write(repo_dir / "f.py", "unstaged = 3\n")  # the working tree must not leak into the staged diff
    summary = staged_diff(repo_for(repo_dir))
    f = by_path(summary)["f.py"]
    assert f.status == "modified" and f.old_path is None
    assert "-old = 1\n" in f.patch and "+new = 2\n" in f.patch
    assert "unstaged" not in summary.kept_text
    assert f.tokens == count_tokens(f.patch) and summary.total_tokens == count_tokens(summary.kept_text)


def test_deleted_file(repo_dir):
    write(repo_dir / "gone.py", "x = 1\n")
    commit_all(repo_dir, "one")
    git(repo_dir, "rm", "-q", "gone.py")
    f = by_path(staged_diff(repo_for(repo_dir)))["gone.py"]
    assert f.status == "deleted" and "-x = 1" in f.patch


def test_rename_shows_as_rename(repo_dir):
    body = "".join(f"line {i}\n" for i in range(30))
    write(repo_dir / "old_name.py", body)
    commit_all(repo_dir, "one")
    git(repo_dir, "config", "diff.renames", "false")  # user config must not turn renames off
    git(repo_dir, "mv", "old_name.py", "new name.py")
    write(repo_dir / "new name.py", body + "line 30\n")
    git(repo_dir, "add", "-A")
    summary = staged_diff(repo_for(repo_dir))
    assert summary.files_changed == 1
    f = summary.files[0]
    assert (f.path, f.old_path, f.status) == ("new name.py", "old_name.py", "renamed")
    assert "rename from old_name.py" in f.patch and "+line 30" in f.patch


def test_unicode_and_quoted_paths(repo_dir):
    write(repo_dir / "dir with space" / "ünï.py", "a = 1\n")
    write(repo_dir / 'quo"te.py', "b = 2\n")
    git(repo_dir, "add", "-A")
    paths = set(by_path(staged_diff(repo_for(repo_dir))))
    assert paths == {"dir with space/ünï.py", 'quo"te.py'}


def test_submodule_summarized(tmp_path):
    lib = new_repo(tmp_path / "lib")
    write(lib / "lib.c", "int one(void) { return 1; }\n")
    first = commit_all(lib, "lib one")
    app = new_repo(tmp_path / "app")
    write(app / "main.c", "int main(void) { return 0; }\n")
    commit_all(app, "app")

    git(app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendored/lib")
    summary = staged_diff(repo_for(app))
    files = by_path(summary)
    sub = files["vendored/lib"]
    assert sub.status == "submodule" and sub.omitted_reason is None
    assert sub.patch == f"submodule vendored/lib: 0000000..{first[:7]}\n"
    assert ".gitmodules" in files and "Subproject commit" not in summary.kept_text
    commit_all(app, "add lib")

    write(lib / "lib.c", "int one(void) { return 2; }\n")
    second = commit_all(lib, "lib two")
    git(app / "vendored" / "lib", "-c", "protocol.file.allow=always", "pull", "-q", "origin", "main")
    git(app, "add", "vendored/lib")
    sub = by_path(staged_diff(repo_for(app)))["vendored/lib"]
    assert sub.patch == f"submodule vendored/lib: {first[:7]}..{second[:7]}\n"


# --- what is left out ---------------------------------------------------------------------------

LEFT_OUT = [
    ("package-lock.json", '{"lockfileVersion": 3}\n', "lock file"),
    ("web/yarn.lock", "left-pad@1.3.0:\n  version 1.3.0\n", "lock file"),
    ("poetry.lock", "[[package]]\nname = 'x'\n", "lock file"),
    ("Cargo.lock", "[[package]]\nname = \"x\"\n", "lock file"),
    ("uv.lock", "version = 1\n", "lock file"),
    ("go.sum", "golang.org/x/text v0.3.0 h1:abc=\n", "lock file"),
    ("pnpm-lock.yaml", "lockfileVersion: '9.0'\n", "lock file"),
    ("Gemfile.lock", "GEM\n", "lock file"),
    ("composer.lock", "{}\n", "lock file"),
    ("api/service_pb2.py", "import x\n", "generated"),
    ("dist/app.js", "console.log(1)\n", "generated"),
    ("vendor/github.com/x/y.go", "package y\n", "generated"),
    ("static/app.min.js", "var a=1;\n", "minified"),
    ("gen/model.go", "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage gen\n", "generated"),
    ("client/api.py", "# @generated by openapi-generator\nclass Api: ...\n", "generated"),
    ("bundle.js", "var a=" + "1+" * 3000 + "1;\n", "minified"),
    ("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
]


def test_left_out_files_are_recorded_with_reasons(repo_dir):
    write(repo_dir / "src" / "app.py", "def main():\n    return 1\n")
    for path, content, _ in LEFT_OUT:
        write(repo_dir / path, content)
    git(repo_dir, "add", "-A")
    summary = staged_diff(repo_for(repo_dir))
    assert dict(summary.omitted) == {path: reason for path, _, reason in LEFT_OUT}
    assert summary.files_changed == len(LEFT_OUT) + 1
    kept = [f.path for f in summary.files if f.omitted_reason is None]
    assert kept == ["src/app.py"]
    for f in summary.files:
        if f.omitted_reason:
            assert f.patch == "" and f.tokens == 0
            assert f.path not in summary.kept_text
    assert summary.total_tokens == count_tokens(summary.kept_text)


def test_generated_header_outside_the_hunks_is_read_from_the_file(repo_dir):
    lines = ["# Code generated by a tool. DO NOT EDIT."] + [f"value_{i} = {i}" for i in range(40)]
    write(repo_dir / "models.py", "\n".join(lines) + "\n")
    commit_all(repo_dir, "one")
    lines[30] = "value_29 = 'changed'"
    write(repo_dir / "models.py", "\n".join(lines) + "\n")
    git(repo_dir, "add", "-A")
    summary = staged_diff(repo_for(repo_dir))
    assert summary.omitted == [("models.py", "generated")]


def test_one_long_line_in_ordinary_code_is_kept(repo_dir):
    body = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(200))
    write(repo_dir / "code.py", body + "SQL = '" + "a, " * 400 + "b'\n")
    git(repo_dir, "add", "-A")
    assert staged_diff(repo_for(repo_dir)).omitted == []


# --- one file's diff ----------------------------------------------------------------------------


def test_file_diff_against_head_includes_staged_and_unstaged(repo_dir):
    write(repo_dir / "a.py", "a = 1\nb = 2\n")
    write(repo_dir / "other.py", "o = 1\n")
    commit_all(repo_dir, "one")
    write(repo_dir / "a.py", "a = 10\nb = 2\n")
    git(repo_dir, "add", "a.py")
    write(repo_dir / "a.py", "a = 10\nb = 20\n")
    write(repo_dir / "other.py", "o = 2\n")
    repo = repo_for(repo_dir)
    for path in (repo_dir / "a.py", "a.py"):
        summary = file_diff(repo, path)
        assert [f.path for f in summary.files] == ["a.py"]
        assert "+a = 10" in summary.kept_text and "+b = 20" in summary.kept_text
        assert "-a = 1\n" in summary.kept_text


def test_file_diff_unchanged_untracked_and_unborn(repo_dir):
    write(repo_dir / "same.py", "s = 1\n")
    repo = repo_for(repo_dir)
    # No commits: the file against the empty tree (it is untracked too).
    assert "+s = 1" in file_diff(repo, repo_dir / "same.py").kept_text
    commit_all(repo_dir, "one")
    assert file_diff(repo, repo_dir / "same.py").files == []
    write(repo_dir / "new.py", "n = 1\n")
    summary = file_diff(repo, repo_dir / "new.py")
    assert [(f.path, f.status) for f in summary.files] == [("new.py", "added")]
    assert "+n = 1" in summary.kept_text


def test_file_diff_outside_the_repository_is_empty(repo_dir, tmp_path):
    write(repo_dir / "a.py", "a = 1\n")
    commit_all(repo_dir, "one")
    outside = write(tmp_path / "elsewhere.py", "x = 1\n")
    assert file_diff(repo_for(repo_dir), outside).files == []


def test_git_context_collects_everything(repo_dir):
    write(repo_dir / "f.txt", "1\n")
    commit_all(repo_dir, "fix: first")
    write(repo_dir / "f.txt", "2\n")
    git(repo_dir, "add", "f.txt")
    ctx = git_context(repo_dir / "f.txt", n_subjects=5)
    assert ctx.root == str(repo_dir.resolve())
    assert ctx.branch == "main" and ctx.recent_subjects == ["fix: first"]
    assert [f.path for f in ctx.staged.files] == ["f.txt"]


# --- budgeting ----------------------------------------------------------------------------------


def added_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.startswith("+") and not line.startswith("+++")]


def test_huge_staged_diff_is_budgeted_into_chunks(repo_dir):
    # 100,000 changed lines: one 60,000-line file (a single huge hunk) and 200 small files.
    write(repo_dir / "huge.py", "".join(f"value_{i} = compute({i}, 'item-{i}')\n" for i in range(60_000)))
    for j in range(200):
        write(repo_dir / "pkg" / f"m{j}.py", "".join(f"def f_{j}_{i}(x): return x * {i}\n" for i in range(200)))
    git(repo_dir, "add", "-A")
    summary = staged_diff(repo_for(repo_dir))
    assert summary.files_changed == 201 and summary.omitted == []
    assert summary.total_tokens > 1_000_000

    limit = 4000
    chunks = budget_diff(summary, limit)
    assert len(chunks) > summary.total_tokens // limit
    assert all(count_tokens(c) <= limit for c in chunks)
    # Nothing lost, nothing invented, order kept.
    assert [x for c in chunks for x in added_lines(c)] == added_lines(summary.kept_text)
    # Every piece of the split file still says which file it is.
    huge_chunks = [c for c in chunks if "value_" in c]
    assert len(huge_chunks) > 10 and all(c.startswith("diff --git a/huge.py b/huge.py") for c in huge_chunks)


def test_budget_packs_small_files_together(repo_dir):
    for j in range(10):
        write(repo_dir / f"m{j}.py", f"x = {j}\n")
    git(repo_dir, "add", "-A")
    summary = staged_diff(repo_for(repo_dir))
    chunks = budget_diff(summary, 10_000)
    assert chunks == [summary.kept_text]


def test_budget_splits_by_hunks_and_truncates_an_overlong_line():
    normal = "".join(f"+line number {i} of ordinary code\n" for i in range(3000))
    long_line = "+" + " ".join(f"w{i}" for i in range(3000)) + "\n"  # ~6,000 tokens, one line
    hunk2 = "".join(f"+second hunk {i}\n" for i in range(50))
    text = (
        "diff --git a/big.txt b/big.txt\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/big.txt\n"
        f"@@ -0,0 +1,3001 @@\n{normal}{long_line}"
        f"@@ -4000,0 +4001,50 @@\n{hunk2}"
    )
    summary = summarize_diff(text)
    assert summary.omitted == []
    chunks = budget_diff(summary, 1000)
    assert all(count_tokens(c) <= 1000 for c in chunks)
    assert any("[... truncated to fit the token budget]" in c for c in chunks)
    assert all(c.startswith("diff --git a/big.txt b/big.txt\n") for c in chunks)
    assert "@@ -4000,0 +4001,50 @@\n+second hunk 0\n" in "".join(chunks)
    assert all(f"+line number {i} of" in "".join(chunks) for i in (0, 1500, 2999))


def test_budget_rejects_a_budget_too_small_for_a_header():
    with pytest.raises(ValueError, match="max_tokens"):
        budget_diff(summarize_diff(""), 10)
