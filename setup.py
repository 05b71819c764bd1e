"""Build the compiled kernels of ``dnn`` (metadata: pyproject.toml).

Environment switches (each forces the rebuild it asks for: a build whose
switches differ from the last in-place build's regenerates the C and
recompiles, so no object of the other kind is reused):
  DNN_DEBUG_BUILD=1    compile with bounds, wraparound and initialization checks on
                       (for a debug test run; slower kernels, same results).
  DNN_ANNOTATE=1       write Cython's annotated HTML next to each .pyx.
  DNN_NO_VECTOR_EXT=1  build the kernels' portable scalar path (what MSVC
                       compiles) even where GCC's vector extensions exist.

The C compiles with GCC, clang, MSVC and MinGW-w64: the platform code is in
dnn/_platform.h and dnn/_simd.h, behind compiler checks.
"""
import json
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _switch(name):
    return os.environ.get(name, "") not in ("", "0")


DEBUG = _switch("DNN_DEBUG_BUILD")
ANNOTATE = _switch("DNN_ANNOTATE")
NO_VECTOR_EXT = _switch("DNN_NO_VECTOR_EXT")

# The switches of the last build in this tree: when they change, everything is
# regenerated and recompiled (Cython and setuptools look at timestamps only).
_STAMP = os.path.join("build", "dnn-build-switches.json")
_CONFIG = {"debug": DEBUG, "no_vector_ext": NO_VECTOR_EXT}


def _switches_changed():
    try:
        with open(_STAMP) as f:
            return json.load(f) != _CONFIG
    except (OSError, ValueError):
        # No record: a fresh tree (nothing to reuse), or one built before the
        # record existed (rebuild to be sure).
        return os.path.exists(os.path.join("dnn", "_train.c"))


FORCE = _switches_changed()

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}
macros = [("DNN_DEBUG_BUILD", "1" if DEBUG else "0"),
          # NumPy's C API as of 1.7 only (dnn._kernels makes and checks its arrays with it)
          ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if NO_VECTOR_EXT:
    macros.append(("DNN_NO_VECTOR_EXT", "1"))

HEADERS = ["dnn/_simd.h", "dnn/_loop.h", "dnn/_team.h", "dnn/_numpy_gemm.h", "dnn/_platform.h", "dnn/_simd.pxd", "dnn/_ops.pxd", "dnn/_blas.pxd", "dnn/_team.pxd"]

extensions = [
    Extension(name, [path], include_dirs=["dnn", numpy.get_include()], define_macros=macros, depends=HEADERS)
    for name, path in [
        ("dnn._kernels", "dnn/_kernels.pyx"),
        ("dnn._train", "dnn/_train.pyx"),
        ("dnn._loop", "dnn/_loop.pyx"),
    ]
]


class BuildExt(build_ext):
    """Flags by compiler, no RUNPATH, and a rebuild when the switches changed."""

    def initialize_options(self):
        super().initialize_options()
        self.force = FORCE or None

    def build_extensions(self):
        kind = self.compiler.compiler_type
        if kind == "msvc":
            args = ["/Od", "/Zi"] if DEBUG else ["/O2"]
            link = []
        else:
            # -g0 after Python's own -g: release builds carry no debug info (a
            # wheel a third the size). -pthread: POSIX threads of our own
            # (MinGW-w64 uses Win32 threads: dnn/_platform.h).
            args = ["-O0", "-g"] if DEBUG else ["-O3", "-g0"]
            # sqrt without errno: the compiler may then vectorize it (Adam's and RMSprop's
            # passes in dnn/_loop.h); nothing in dnn reads errno.
            args.append("-fno-math-errno")
            # CPython's own flags carry -fwrapv (its C relies on signed wrap-around; ours does not:
            # loops test j <= m - LANES, sizes are checked below INT_MAX, dnn/_simd.h). With it GCC
            # kept wide_axpy's vectors in memory (benchmarks/NOTES.md, "-fwrapv").
            args.append("-fno-wrapv")
            link = []
            if kind != "mingw32":
                args.append("-pthread")
                link.append("-pthread")
            # An extension needs no run-time search path; some Pythons (pyenv's)
            # put their own lib directory in every link line, which a wheel must not carry.
            for attr in ("linker_so", "linker_so_cxx"):
                cmd = getattr(self.compiler, attr, None)
                if cmd:
                    setattr(self.compiler, attr,
                            [a for a in cmd if not a.startswith(("-Wl,-rpath", "-Wl,-R"))])
        for ext in self.extensions:
            ext.extra_compile_args = list(args)
            ext.extra_link_args = list(link)
            if kind != "msvc":
                ext.libraries = ["m"]  # exp, expf: libm (the C runtime has them on Windows)
        super().build_extensions()


ext_modules = cythonize(extensions, compiler_directives=directives, annotate=ANNOTATE,
                        force=FORCE or ANNOTATE)
# The C in dnn/ is now this build's: record its switches.
os.makedirs("build", exist_ok=True)
with open(_STAMP, "w") as f:
    json.dump(_CONFIG, f)

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
