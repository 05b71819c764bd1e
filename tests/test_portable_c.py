"""dnn's C headers compile and work on every platform the wheels target.

``tests/c/check_c.c`` checks every kernel of ``dnn/_simd.h`` (each build the
CPU runs, against plain double loops) and the threads, barrier, gate and
clock of ``dnn/_platform.h``, without Python. Here it is compiled with:
the host's C compiler, with GCC's vector extensions and with them switched
off (the scalar path MSVC builds); MinGW-w64 (the Win32 threads, both paths);
the aarch64 cross compiler (the NEON build), run under qemu where it is
installed; and clang for macOS (x86-64, arm64), Windows and Linux targets
through zig's ``zig cc`` where the ``ziglang`` package is installed. A
compiler that is absent skips its test, naming the package that provides
it. ``-Wall -Wextra -Werror``: a warning is a failure.
"""

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "c" / "check_c.c"
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]


def _headers_dir():
    """The checkout's dnn/ (what is being changed), else the installed package's."""
    src = HERE.parent / "dnn"
    if (src / "_simd.h").is_file():
        return src
    import dnn

    return Path(dnn.__file__).parent


def _need(tool, package):
    path = shutil.which(tool)
    if path is None:
        pytest.skip("%s not found (Debian: apt-get install %s)" % (tool, package))
    return path


def _host_cc():
    cc = (sysconfig.get_config_var("CC") or "").split()
    for cand in ([cc[0]] if cc else []) + ["cc", "gcc", "clang"]:
        path = shutil.which(cand)
        if path:
            out = subprocess.run([path, "--version"], capture_output=True, text=True)
            if out.returncode == 0 and ("gcc" in out.stdout.lower() or "clang" in out.stdout.lower()
                                        or "free software" in out.stdout.lower()):
                return path
    pytest.skip("no GCC or clang on PATH to compile the C check with")


def _compile(cc, out, *extra, libs=(), link=True):
    cmd = [cc, *FLAGS, *extra, "-I", str(_headers_dir()), str(DRIVER), "-o", str(out)]
    cmd += ["-lm", *libs] if link else ["-c"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, "%s failed:\n%s%s" % (" ".join(cmd), res.stdout, res.stderr)
    assert res.stderr.strip() == "", res.stderr  # no warnings either
    return out


def _cpu_level():
    """The level of dnn/_simd.h's builds this x86-64 Linux CPU and OS run, as /proc/cpuinfo
    lists their features (the kernel leaves out what it does not save); None elsewhere."""
    if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
        return None
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags"))
    except (OSError, StopIteration):
        return None
    if not {"avx2", "fma"} <= flags:
        return 0
    return 2 if {"avx512f", "avx512dq"} <= flags else 1


def _run(cmd, env=None):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0 and res.stdout.strip().splitlines()[-1].startswith("ok"), (
        "check_c failed (status %d):\n%s%s" % (res.returncode, res.stdout, res.stderr))
    return res.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX host compiler check (Windows: MinGW test)")
@pytest.mark.parametrize("vector", [True, False], ids=["vector", "portable"])
def test_host_compiler(tmp_path, vector):
    cc = _host_cc()
    extra = [] if vector else ["-DDNN_NO_VECTOR_EXT=1"]
    exe = _compile(cc, tmp_path / "check_c", *extra, "-pthread", libs=["-pthread"])
    line = _run([str(exe)])
    assert ("vector extensions 1" in line) == vector, line
    if not vector:
        assert "baseline scalar" in line, line
    elif _cpu_level() is not None:  # the builds the CPU runs are the ones dispatched
        assert "builds 0..%d of 2" % _cpu_level() in line, line


@pytest.mark.parametrize("vector", [True, False], ids=["vector", "portable"])
def test_mingw_w64(tmp_path, vector):
    """Windows x86-64: Win32 threads, QueryPerformanceCounter, no pthread or signal masks."""
    cc = _need("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64")
    extra = [] if vector else ["-DDNN_NO_VECTOR_EXT=1"]
    exe = _compile(cc, tmp_path / "check_c.exe", *extra)
    imports = subprocess.run(["x86_64-w64-mingw32-objdump", "-p", str(exe)],
                             capture_output=True, text=True).stdout
    if imports:
        assert "pthread" not in imports.lower(), "the Windows build must not need winpthreads"
    if sys.platform == "win32":
        _run([str(exe)])
    elif shutil.which("wine") or shutil.which("wine64"):
        _run([shutil.which("wine") or shutil.which("wine64"), str(exe)])


def test_aarch64(tmp_path):
    """arm64: the baseline build is NEON (16-byte vectors); run it under qemu if available."""
    cc = _need("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    exe = _compile(cc, tmp_path / "check_c", "-pthread", libs=["-pthread"])
    objdump = shutil.which("aarch64-linux-gnu-objdump")
    if objdump:
        asm = subprocess.run([objdump, "-d", str(exe)], capture_output=True, text=True).stdout
        assert ".2d" in asm and ".4s" in asm, "no NEON double and float vector instructions"
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    sysroot = Path("/usr/aarch64-linux-gnu")
    if qemu is None or not sysroot.is_dir():
        pytest.skip("compiled; not run: no qemu-aarch64 (Debian: apt-get install qemu-user-static)")
    env = dict(os.environ, QEMU_LD_PREFIX=str(sysroot))
    line = _run([qemu, str(exe)], env=env)
    assert "baseline neon" in line and "vector extensions 1" in line, line


@pytest.mark.parametrize("target", ["x86_64-macos", "aarch64-macos", "x86_64-windows-gnu",
                                    "aarch64-linux-gnu", "x86_64-linux-gnu.2.17"])
def test_clang_targets(tmp_path, target):
    """clang (zig cc) for every other platform of the wheels: compiles, links, no warning.
    Windows: compiled only (``-c``); linking there would have zig build MinGW's C runtime
    from source first (three minutes of CI on a 2-core machine), and test_mingw_w64 links
    and runs the same file for Windows. x86-64 Linux (the old glibc .ci/manylinux-check
    builds for) also runs, where the host is one: it must dispatch the builds the CPU runs
    (zig's run-time library has no CPU model; dnn/_simd.h reads CPUID itself)."""
    pytest.importorskip("ziglang", reason="zig cc is the ziglang package (pip install ziglang)")
    cc = tmp_path / "zigcc"
    cc.write_text('#!/bin/sh\nexec "%s" -m ziglang cc -target %s "$@"\n' % (sys.executable, target))
    cc.chmod(0o755)
    if sys.platform == "win32":
        pytest.skip("the zig cc wrapper is a shell script")
    if "windows" in target:
        out = _compile(str(cc), tmp_path / "check_c.o", link=False)
    else:
        out = _compile(str(cc), tmp_path / "check_c", "-pthread", libs=["-pthread"])
    assert out.stat().st_size > 0
    if target.startswith("x86_64-linux") and _cpu_level() is not None:
        line = _run([str(out)])
        assert "builds 0..%d of 2" % _cpu_level() in line, line
