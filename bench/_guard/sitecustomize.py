"""Puts every Python process a benchmark starts under the loopback-only rule (bench/_loopback.py).

The harness adds this directory to PYTHONPATH; Python imports `sitecustomize` at start-up. Any
other sitecustomize further along the path still runs after this one.
"""

import importlib.machinery
import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("_bench_loopback", os.path.join(os.path.dirname(_here), "_loopback.py"))
_guard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_guard)
_guard.install()

# the sitecustomize this one shadows, if the interpreter has one
_rest = [p for p in sys.path if os.path.abspath(p or ".") != _here]
_next = importlib.machinery.PathFinder.find_spec("sitecustomize", _rest)
if _next is not None and _next.origin and os.path.dirname(os.path.abspath(_next.origin)) != _here:
    _module = importlib.util.module_from_spec(_next)
    _next.loader.exec_module(_module)
