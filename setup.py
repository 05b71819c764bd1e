"""Build the compiled kernels of ``dnn``.

Environment switches:
  DNN_DEBUG_BUILD=1  compile with bounds, wraparound and initialization checks on
                     (for a debug test run; slower kernels, same results).
  DNN_ANNOTATE=1     write Cython's annotated HTML next to each .pyx.
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("DNN_DEBUG_BUILD", "") not in ("", "0")
ANNOTATE = os.environ.get("DNN_ANNOTATE", "") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

# -g0 after Python's own -g: release builds carry no debug info (a wheel a
# third the size). -pthread: the training loop starts threads of its own.
extra_compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-g0"]
extra_compile_args.append("-pthread")
extra_link_args = ["-pthread"]
macros = [("DNN_DEBUG_BUILD", "1" if DEBUG else "0")]

extensions = [
    Extension(name, [path], extra_compile_args=extra_compile_args,
              extra_link_args=extra_link_args, define_macros=macros)
    for name, path in [
        ("dnn._kernels", "dnn/_kernels.pyx"),
        ("dnn._train", "dnn/_train.pyx"),
    ]
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=ANNOTATE,
    ),
)
