"""The cat pictures' wide first layer in C, without Python (``benchmarks/c/wide_layer.c``).

Compiles the harness against this checkout's ``dnn/_loop.h`` with the package's release flags
(``-O3 -fno-math-errno``, the compiler Python was built with, else ``cc``) into a temporary
folder and runs, float64, one thread:

- the layer's epoch with dnn's buffers on a cache line and 16 bytes past one (X 16 bytes past
  one, as NumPy gives a large array), alternating, ``--rounds`` each: benchmarks/NOTES.md,
  "Buffers on a cache line";
- ``wide_dot`` and ``wide_axpy`` in GF/s over 64, 128, 192 and 384 rows of X (in L3 to
  from memory);
- Adam's and plain GD's kernels in ns per element, in L1.

Run: ``python benchmarks/wide_layer_c.py [--rounds 3]`` (about 20 s). POSIX only (the harness
uses ``clock_gettime``, ``posix_memalign`` and ``madvise``).
"""
import argparse
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def build(folder):
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    exe = os.path.join(folder, "wide_layer")
    cmd = cc + ["-O3", "-fno-math-errno", "-I", os.path.join(ROOT, "dnn"),
                os.path.join(HERE, "c", "wide_layer.c"), "-o", exe, "-lm"]
    subprocess.run(cmd, check=True)
    return exe


def run(exe, *args):
    out = subprocess.run([exe, *map(str, args)], check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if not line.startswith("kernels:")], out.splitlines()[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="epoch runs per placement, alternating")
    args = ap.parse_args(argv)
    if os.name != "posix":
        sys.exit("the harness is POSIX only")
    with tempfile.TemporaryDirectory() as folder:
        exe = build(folder)
        lines, kernels = run(exe, "adam")
        print(kernels)
        for r in range(args.rounds):
            for offset in ((0, 16) if r % 2 == 0 else (16, 0)):
                print(run(exe, "epoch", offset, 16)[0][0])
        for rows in (64, 128, 192, 384):
            print(run(exe, "rates", rows)[0][0])
        print(lines[0])


if __name__ == "__main__":
    main()
