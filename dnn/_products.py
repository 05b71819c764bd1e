"""Which products skip BLAS for ``dnn._simd``'s own kernels: the rules, by measurement.

A layer has three products: W H (forward) and W^T dZ (backward), "nn" in
``dnn._simd``, and the weight gradient dZ H^T, "nt". Each goes to SciPy's
BLAS or to ``dnn._simd``'s register-blocked loops, which read the operands
where they lie. What those loops save: a BLAS call's set-up, the packing of
both operands (a fifth of a mid-sized product's time in OpenBLAS) and the
zeroing of the output, and, on a CPU with AVX-512, half the instructions
where SciPy's OpenBLAS runs AVX2 kernels (it does when ``OPENBLAS_CORETYPE``
says so, or on a CPU it does not know). What they lack: threads (one per
call), cache blocking over the examples in ``nt``, and any speed at all in
the SSE2 build. Measured on an AMD EPYC (Zen 5, OPENBLAS_CORETYPE=Haswell):
AVX-512 ran S3's and S6's products 1.6 - 2.2x faster than one-thread dgemm
and S4's W H 1.6x; AVX2 made S3's and S6's training iterations 15 - 25%
faster and S4's no faster; SSE2 made S6's twice as slow. With OpenBLAS's own
AVX-512 kernels (OPENBLAS_CORETYPE=SkylakeX, same machine) the rules below
still beat BLAS or match it: S3's and S6's iterations 1.2 - 1.27x faster,
S4's 1.0 - 1.03x.
"""

from dnn import _train

__all__ = ["TINY_PRODUCT", "OWN_PRODUCT_BYTES", "XT_BYTES", "XT_MIN_ITERATIONS", "for_training",
           "for_step"]

#: A product whose weight matrix has at most this many entries runs in
#: ``dnn._simd`` on any CPU: a BLAS call costs more in set-up and packing
#: than in arithmetic there (a [2, 4, 1] net: 5.3 -> 3.2 us an iteration).
TINY_PRODUCT = 64

#: The largest operands, in bytes (the activations in and out of a layer, for
#: the examples of one call), of a product taken from a BLAS that has the
#: cores to itself. ``nt`` sums over the examples with no cache blocking, so
#: both operands must stay in a core's L2 cache (1 MiB or more on AVX2 and
#: AVX-512 CPUs): on S4's layers (7.7 MB and more) it ran at half BLAS's
#: speed. ``nn`` walks B in column panels that stay in L2, at any size.
OWN_PRODUCT_BYTES = 1 << 20

#: The largest transposed copy of X (bytes) a fit keeps for its first layer's
#: weight gradient dZ_1 X^T (``XT``), which then runs as dZ_1 (X^T): the
#: vectors along W_1's rows, the examples in chunks, no sums across lanes;
#: on S4 that took the whole iteration from 75 to 63 ms (float64), for 63 MB
#: more memory (the fit holds X twice).
XT_BYTES = 256 << 20

#: Iterations a fit needs for its copy of X^T to pay: the copy costs about one
#: iteration's saving (S4, float64: 11.5 ms against 12 ms an iteration; 4
#: iterations took 284 ms with it, 331 ms without).
XT_MIN_ITERATIONS = 4

NN = _train.OWN_PRODUCTS["nn"]
NT = _train.OWN_PRODUCTS["nt"]
XT = _train.OWN_PRODUCTS["xt"]


def for_training(layers_dims, m, itemsize, shards, blas_threads, gram=False,
                 num_iterations=None):
    """``dnn._train.Trainer``'s ``own``: per layer, the products (NN | NT | XT) that skip BLAS.

    NN and NT for tiny layers on any CPU. Where BLAS would run one thread per
    call (``shards`` > 1: a fit split into shards, each on a thread of its
    own; or ``blas_threads`` == 1), on an AVX-512 CPU: NN for every layer, NT
    where the operands of one shard fit in ``OWN_PRODUCT_BYTES``, and for a
    first layer whose operands do not, XT if X is at most ``XT_BYTES`` and the
    fit runs ``XT_MIN_ITERATIONS`` or more (``num_iterations``; None: as many),
    not with the Gram form (``gram``, which has its own first layer); on an AVX2
    CPU, NN and NT where they fit. Where BLAS has two threads or more for an
    unsplit fit it keeps every larger product: ours run on one thread.
    """
    build = _train.simd_kernels()
    one_thread = shards > 1 or blas_threads == 1
    m_shard = -(-m // shards)
    own = []
    long_fit = num_iterations is None or num_iterations >= XT_MIN_ITERATIONS
    for l, (n_out, n_in) in enumerate(zip(layers_dims[1:], layers_dims), start=1):
        fits = (n_out + n_in) * m_shard * itemsize <= OWN_PRODUCT_BYTES
        if n_out * n_in <= TINY_PRODUCT:
            own.append(NN | NT)
        elif one_thread and build == "avx512":
            # the first layer's input is X: its copy is n_in x m
            xt = (l == 1 and not fits and not gram and long_fit
                  and n_in * m * itemsize <= XT_BYTES)
            own.append(NN | (NT if fits else 0) | (XT if xt else 0))
        elif one_thread and build == "avx2" and fits:
            own.append(NN | NT)
        else:
            own.append(0)
    return own


def for_step(n_out, n_in, m, itemsize):
    """Which of one step-by-step call's products skip BLAS: ``dnn._kernels``' ``own``.

    A layer of ``n_out`` units on ``n_in`` inputs and ``m`` examples: 0 (all
    BLAS), or ``dnn._kernels.OWN_PRODUCTS`` flags: "all" for tiny layers on any
    CPU; on an AVX-512 or AVX2 CPU, "all" where the operands fit in
    ``OWN_PRODUCT_BYTES`` (where one thread of ours beat BLAS's two, on S3's
    and S6's layers); a larger layer's products are timed on this machine
    (``dnn._step_plan``), starting from the guess "nn" (own W H and W^T dZ,
    BLAS's dZ H^T: on S1's and S4's first layers, one thread, "nn" beat BLAS
    and "nt" lost to it in float64) with AVX-512, none with AVX2.
    """
    from dnn import _kernels, _step_plan

    own = _kernels.OWN_PRODUCTS
    if n_out * n_in <= TINY_PRODUCT:
        return own["all"]
    build = _train.simd_kernels()
    if build not in ("avx512", "avx2"):
        return 0
    if (n_out + n_in) * m * itemsize <= OWN_PRODUCT_BYTES:
        return own["all"]
    guess = own["nn"] if build == "avx512" else 0
    return _step_plan.choose(n_out, n_in, m, itemsize, guess,
                             (0, own["nn"], own["nt"], own["nn"] | own["nt"]))
