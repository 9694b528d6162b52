"""The one rule for skips: `tests.support.need` skips for something missing, fails for it under
HYBRIDLSP_REQUIRE_ALL=1 (or its old name), and a broken install is an error, never a skip."""

from __future__ import annotations

import sys

import pytest

from tests import support


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv(support.REQUIRE_ALL, raising=False)
    monkeypatch.delenv("HYBRIDLSP_REQUIRE_EDITORS", raising=False)
    return monkeypatch


@pytest.mark.parametrize("found", ["/usr/bin/nvim", 0, object()])
def test_what_is_there_is_returned(clean_env, found):
    assert support.need(found, "nvim is missing") is found


@pytest.mark.parametrize("missing", [None, False, ""])
def test_what_is_missing_skips_saying_why(clean_env, missing):
    with pytest.raises(pytest.skip.Exception, match="apt-get install neovim"):
        support.need(missing, "Neovim is missing: apt-get install neovim")


@pytest.mark.parametrize("var", ["HYBRIDLSP_REQUIRE_ALL", "HYBRIDLSP_REQUIRE_EDITORS"])
def test_under_require_all_what_is_missing_fails(clean_env, var):
    clean_env.setenv(var, "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install neovim"):
        support.need(None, "Neovim is missing: apt-get install neovim")


def test_a_module_not_installed_skips(clean_env):
    with pytest.raises(pytest.skip.Exception, match="the otel extra"):
        support.need_module("hybridlsp_no_such_extra.sdk", "needs the otel extra")


def test_a_broken_install_is_an_error_not_a_skip(clean_env, tmp_path):
    (tmp_path / "hybridlsp_broken_extra").mkdir()
    (tmp_path / "hybridlsp_broken_extra" / "__init__.py").write_text("import hybridlsp_missing_dependency\n")
    clean_env.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError, match="hybridlsp_missing_dependency"):
            support.need_module("hybridlsp_broken_extra", "needs the broken extra")
    finally:
        sys.modules.pop("hybridlsp_broken_extra", None)


def test_an_installed_module_is_imported(clean_env):
    assert support.need_module("json", "the standard library").dumps([]) == "[]"


def test_no_test_skips_except_through_need():
    """A bare skip escapes HYBRIDLSP_REQUIRE_ALL: every test that needs something skips via `need`."""
    import re
    from pathlib import Path

    bare = re.compile(r"pytest\.skip\(|importorskip\(|mark\.skipif\(|mark\.skip\(")
    root = Path(__file__).parent
    found = [f"{path.relative_to(root.parent)}:{n}: {line.strip()}"
             for path in sorted(root.rglob("*.py")) if path.name not in ("support.py", "test_support.py")
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if bare.search(line)]
    assert found == [], "skip through tests.support.need instead:\n" + "\n".join(found)
