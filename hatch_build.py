"""Hatchling build hook: compiles the learned estimate's C speedup, server/hybridlsp/routing/_speedups.c.

Optional by design: without a C compiler or Python's headers the build warns and goes on, and
hybridlsp runs the same estimate in Python (~20 us a prompt instead of ~1; `learned.SPEEDUPS` says
which). setuptools compiles it with the running Python's own compiler and flags.

A wheel gets the module through force_include. An editable install (`make install`) only puts
server/ on sys.path, so the module is written beside its source there (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "hybridlsp.routing._speedups"
SOURCE = Path("server", "hybridlsp", "routing", "_speedups.c")


def _compile(source: Path, work: Path) -> Path:
    from setuptools import Distribution, Extension

    dist = Distribution({"name": "hybridlsp-speedups", "ext_modules": [Extension(MODULE, [str(source)])]})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib, cmd.build_temp = str(work / "lib"), str(work / "tmp")
    cmd.ensure_finalized()
    cmd.run()
    return Path(cmd.get_ext_fullpath(MODULE))


class SpeedupsBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        self._work = Path(tempfile.mkdtemp(prefix="hybridlsp-speedups-"))
        try:
            built = _compile(Path(self.root) / SOURCE, self._work)
        except Exception as e:  # no setuptools, compiler or headers: the pure-Python wheel still works
            self.app.display_warning(
                f"hybridlsp: C speedups not built ({type(e).__name__}: {e}); the learned difficulty "
                "estimate will run in pure Python"
            )
            return
        target = f"hybridlsp/routing/{built.name}"
        if version == "editable":
            dest = Path(self.root, "server", target)
            # a new file renamed over the old: a running server that mapped the old one keeps it
            part = dest.with_name(dest.name + ".part")
            shutil.copy2(built, part)
            os.replace(part, dest)
        else:
            build_data["force_include"][str(built)] = target
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        shutil.rmtree(self._work, ignore_errors=True)
