"""engine/jit.py's lean_cache_loads, which replaces a non-public Numba method for the short
`fit` and `predict` processes: Numba's code is pinned here, so that an upgrade that changes
what it replaces fails loudly, and its effect is checked in fresh processes."""

from __future__ import annotations

import ast
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from numba.core import caching, compiler
from numba.core.runtime import nrt

from engine import jit

# Numba 0.68's Cache.load_overload, which lean_cache_loads replaces by the same minus the refresh
# (plus the runtime's initialisation, which the refresh did first).
NUMBAS_LOAD_OVERLOAD = '''
def load_overload(self, sig, target_context):
    """
    Load and recreate the cached object for the given signature,
    using the *target_context*.
    """
    # Refresh the context to ensure it is initialized
    target_context.refresh()
    with self._guard_against_spurious_io_errors():
        return self._load_overload(sig, target_context)
    # None returned if the `with` block swallows an exception
'''


def test_numba_still_has_what_lean_cache_loads_replaces_and_relies_on():
    original = getattr(caching.Cache.load_overload, "replaced", caching.Cache.load_overload)
    assert textwrap.dedent(inspect.getsource(original)).strip() == NUMBAS_LOAD_OVERLOAD.strip()
    assert callable(caching.Cache._guard_against_spurious_io_errors)
    assert callable(caching.Cache._load_overload)
    assert callable(nrt.rtsys.initialize)
    # A cache miss compiles, and Numba's compiler refreshes the registries itself.
    init = inspect.getsource(compiler.CompilerBase.__init__)
    assert "typingctx.refresh()" in init and "targetctx.refresh()" in init


PROBE = """
import math, sys
import numpy as np
from numba import njit
from engine.jit import lean_cache_loads
lean_cache_loads()
from engine.kernels.fit import check_rows
low, high, ascending, scores_ok = check_rows(
    np.array([0, 0, 1], np.int32), np.array([2, 0, 1], np.int32), np.zeros(0, np.int32), np.array([1.0, np.nan, 0.0])
)
assert low.tolist() == [0, 0, 0] and high.tolist() == [1, 2, 0] and ascending and scores_ok
print("LOADED", sorted(m for m in ("cffi", "numba.typed.typeddict", "numba.np.random", "numba.np.arraymath") if m in sys.modules))
# Compiling afterwards still finds every registry (np.sum: arraymath; math.gamma: mathimpl).
print("COMPILED", njit(lambda a: np.sum(a) + math.gamma(4.0))(np.arange(4.0)))
"""


def test_kernels_load_from_the_cache_without_the_registries_and_compiling_still_works():
    for _ in range(2):  # the first run may compile and cache the kernel; the second loads it
        done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    assert "COMPILED 12.0" in done.stdout


def engine_imports(path: Path) -> set[str]:
    """The engine modules a file imports, as paths relative to engine/."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "engine":
            found.add("/".join(node.module.split(".")[1:]) + ".py")
    return found


def test_the_cache_fingerprint_covers_every_file_a_kernel_can_compile_in():
    root = Path(jit.__file__).parent
    with_kernels = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if re.search(r"^@(kernel|inline|parallel_kernel)\b", p.read_text(), re.MULTILINE)
    }
    reached, todo = set(), list(with_kernels)
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += engine_imports(root / name)
    assert set(jit.KERNEL_SOURCES) == reached


CACHE_PROBE = """
import numpy as np
from engine.kernels.fit import check_rows
check_rows(np.array([0], np.int32), np.array([0], np.int32), np.zeros(0, np.int32), np.array([1.0]))
"""


def test_a_change_to_a_file_a_kernel_imports_from_is_a_cache_miss(tmp_path: Path):
    """Numba would check check_rows's cache against kernels/fit.py alone; a change to the model
    it imports constants from must not leave the old compiled code in use."""
    shutil.copytree(
        Path(jit.__file__).parent, tmp_path / "src" / "engine", ignore=shutil.ignore_patterns("__pycache__")
    )
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "NUMBA_CACHE_DIR": str(cache)}

    def cached_folders() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", CACHE_PROBE], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return sorted(p.name for p in cache.iterdir() if any(p.rglob("*.check_rows-*.nbi")))

    first = cached_folders()
    assert len(first) == 1 and first[0].startswith("numba-")
    assert cached_folders() == first  # unchanged sources: the same folder, loaded from the cache
    model = tmp_path / "src" / "engine" / "model.py"
    model.write_text(model.read_text() + "\n# changed\n")
    second = cached_folders()
    assert len(second) == 2 and set(first) < set(second)
