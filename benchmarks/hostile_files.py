"""What a hostile file costs dnn: wall time and peak memory of refusing it (issue 14).

    python benchmarks/hostile_files.py                         # the installed dnn
    python benchmarks/hostile_files.py --dnn /path/to/checkout  # another (built) checkout

Builds the files of ``tests/test_hostile_files.py`` (a text entry of two
million names, ten million layer sizes, a 1.4 MB zip inflating to a 1.5 GB
weight matrix, an HDF5 file declaring 3 GiB, a picture of 10^8 pixels) and
refuses each in a fresh subprocess, printing the seconds taken, the rise of
the resident-set high-water mark and the length of the error message. Each
child is capped at ``--timeout`` seconds (an older dnn took a minute on one
of them). Bounded: about 20 s with the current dnn.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

_CHILD = textwrap.dedent("""
    import resource, sys, time
    import numpy as np
    import dnn
    from dnn import data, model_io
    try:
        import h5py
    except ImportError:
        pass
    kind, path, other = sys.argv[1:4]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        if kind == "model":
            model_io.load_model(path)
        elif kind == "hdf5":
            data.load_data(path, other)
        else:
            data.read_image(path)
        outcome = "LOADED"
    except Exception as exc:
        outcome = "%s(%d chars)" % (type(exc).__name__, len(str(exc)))
    took = time.perf_counter() - t0
    rise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print("%.3f %.1f %s" % (took, rise / 1024, outcome))
""")


def _helpers():
    spec = importlib.util.spec_from_file_location("hostile", HERE.parent / "tests" / "test_hostile_files.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _files(H, tmp):
    from PIL import Image
    files = []
    files.append(("model: 2,000,000 activation names", "model", H._model_with(
        tmp, "huge_text.npz", activations=H._entry("activations.npy", H._npy(np.array(["sigmoid"] * 2_000_000))))))
    files.append(("model: 10,000,000 layer sizes", "model", H._model_with(
        tmp, "huge_dims.npz", layer_dims=H._entry("layer_dims.npy", H._npy(np.ones(10_000_000, dtype=np.int64))))))
    deflated, crc, size = H._deflated_zeros(H._npy_header((1000, 187_500)), 1_500_000_000)
    files.append(("model: 1.5 GB W1 in a 1.4 MB zip", "model", H._model_with(
        tmp, "bomb.npz", layer_dims=H._entry("layer_dims.npy", H._npy(np.array([187_500, 1000, 1]))),
        W1=H._entry("W1.npy", deflated=deflated, crc=crc, size=size),
        b1=H._entry("b1.npy", H._npy(np.zeros((1000, 1)))), W2=H._entry("W2.npy", H._npy(np.zeros((1, 1000)))))))
    files.append(("model: metadata nested 200,000 deep", "model", H._model_with(
        tmp, "deep.npz", metadata=H._entry("metadata.npy", H._npy(np.array("[" * 200_000 + "]" * 200_000))))))
    try:
        import h5py
        with h5py.File(tmp / "ok.h5", "w") as f:
            f["test_set_x"] = np.zeros((2, 4, 4, 3), dtype=np.uint8)
            f["test_set_y"] = np.array([0, 1])
        with h5py.File(tmp / "big.h5", "w") as f:
            f.create_dataset("train_set_x", shape=(262_144, 64, 64, 3), dtype="u1", chunks=(1, 64, 64, 3))
            f["train_set_y"] = np.zeros(2, dtype=np.int64)
        files.append(("HDF5: 3 GiB declared in 1.6 KB", "hdf5", tmp / "big.h5"))
    except ImportError:
        print("(h5py not installed: no HDF5 row)")
    Image.new("1", (10_000, 10_000)).save(tmp / "bomb.png")
    files.append(("picture: 10^8 pixels", "image", tmp / "bomb.png"))
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per file (default 120)")
    parser.add_argument("--dnn", metavar="DIR", help="refuse the files with the dnn built in this "
                        "checkout (put first on the children's PYTHONPATH)")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.dnn:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.dnn, env.get("PYTHONPATH")]))
    H = _helpers()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("| file | size | seconds | peak RSS rise MiB | outcome |")
        print("|---|---:|---:|---:|---|")
        for label, kind, path in _files(H, tmp):
            try:
                res = subprocess.run([sys.executable, "-c", _CHILD, kind, str(path), str(tmp / "ok.h5")],
                                     capture_output=True, text=True, timeout=args.timeout, env=env,
                                     cwd=tmp)  # not a checkout's dnn/ without extensions
                cells = res.stdout.split() if res.returncode == 0 else ["-", "-", "crashed: " + res.stderr[-200:]]
            except subprocess.TimeoutExpired:
                cells = [">%g" % args.timeout, "-", "timeout"]
            print("| %s | %d B | %s | %s | %s |" % (label, path.stat().st_size, cells[0], cells[1],
                                                    " ".join(cells[2:])))


if __name__ == "__main__":
    main()
