"""What a user of the installed distribution sees: its name and metadata, the
error from a source tree without compiled extensions, type hints."""

import os
import shutil
import subprocess
import sys
import typing
from importlib import metadata
from pathlib import Path

import pytest

import dnn
import dnn.data
import dnn.model_io
import dnn.plotting

DIST = "dnn-course"


def _dist():
    """The distribution an installer wrote (its INSTALLER file), not a ``dnn_course.egg-info`` that a
    ``setup.py`` command left in the checkout, which is found first when the checkout is on sys.path."""
    for dist in metadata.distributions(name=DIST):
        if dist.read_text("INSTALLER") is not None:
            return dist
    pytest.skip("dnn is not installed as the %s distribution here" % DIST)


def test_distribution_metadata():
    meta = _dist().metadata
    assert meta["Name"] == DIST
    assert meta["Version"] == dnn.__version__
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert "LICENSE" in meta.get_all("License-File")
    assert meta["Author"]
    assert meta["Keywords"]
    # requires-python admits this interpreter, and the classifiers name it.
    lower = meta["Requires-Python"].removeprefix(">=").split(".")
    assert sys.version_info[:2] >= tuple(int(v) for v in lower)
    here = "Programming Language :: Python :: %d.%d" % sys.version_info[:2]
    assert here in meta.get_all("Classifier")


def test_the_license_file_is_installed():
    files = [str(f) for f in _dist().files or []]
    assert any(f.endswith("licenses/LICENSE") for f in files), files


def test_the_command_and_the_extras():
    dist = _dist()
    assert [ep.value for ep in dist.entry_points if ep.name == "dnn"] == ["dnn.cli:main"]
    extras = set(dist.metadata.get_all("Provides-Extra"))
    assert {"hdf5", "plot", "progress", "test"} <= extras


def test_a_source_tree_without_extensions_says_so(tmp_path):
    # A copy of the package's __init__ beside a .pyx and no compiled module:
    # what Python imports when run from a checkout's root. -S: without
    # site-packages (an editable install's import hook would find the real one).
    src = tmp_path / "checkout" / "dnn"
    src.mkdir(parents=True)
    shutil.copy(Path(dnn.__file__), src / "__init__.py")
    (src / "_kernels.pyx").write_text("# the Cython source only\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-S", "-c", "import dnn"], cwd=src.parent, env=env,
                         capture_output=True, text=True)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert "source tree" in last and str(src) in last, last
    assert "no compiled extensions" in last and "another directory" in last, last
    assert "pip install --no-build-isolation -e ." in last, last
    assert "circular import" not in last


@pytest.mark.parametrize("module", [dnn.data, dnn.model_io, dnn.plotting],
                         ids=lambda m: m.__name__)
def test_public_functions_have_type_hints(module):
    for name in module.__all__:
        f = getattr(module, name)
        if callable(f) and not isinstance(f, type):
            hints = typing.get_type_hints(f)
            assert "return" in hints, name
            params = [p for p in f.__code__.co_varnames[:f.__code__.co_argcount
                                                        + f.__code__.co_kwonlyargcount]]
            assert set(params) <= set(hints), (name, set(params) - set(hints))
