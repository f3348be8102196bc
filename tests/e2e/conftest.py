"""Shared fixtures: the real palabre binary, built by meson."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def palabre():
    path = pathlib.Path(os.environ.get("PALABRE_BIN", ROOT / "build" / "palabre"))
    if not path.exists():
        pytest.fail(f"{path} not built: run make")

    def run(*args, check_rc=None, stdin=None):
        proc = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True,
                              input=stdin, timeout=300)
        if check_rc is not None:
            assert proc.returncode == check_rc, proc.stderr + proc.stdout
        return proc

    return run


@pytest.fixture(scope="session")
def data_dir():
    return ROOT / "tests" / "data"
