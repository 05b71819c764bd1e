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
    CPU; on an AVX-512 CPU, "nn" (W H and W^T dZ) for every layer and "nt"
    (dZ H^T) too where the operands fit in ``OWN_PRODUCT_BYTES``; other
    builds, BLAS (not measured for this API). A rule, not a timing: the same call gives the
    same bits whatever the load or the thread count. Measured (one thread,
    benchmarks/NOTES.md): own ``nn`` beat SciPy's BLAS on every layer of the
    step loop's shapes, S1's and S4's first layers included; own ``nt`` past
    L2 lost on S4's first layers and on S1's in float64, and won in float32
    where dZ has at most 64 rows (S1's and S4's third layers).
    """
    from dnn import _kernels

    # In float32, a layer of at most this many units takes dZ H^T from ``nt``
    # past L2 too: H is read once per block of dZ's rows, few blocks here
    # (one thread, with the layer's other products: S1's first layer 2.17 ms
    # against BLAS's 2.43, S4's third 2.50 against 2.71; S4's second, 128
    # units, lost, 10.2 against 9.7; in float64 S1's lost, 6.7 against 5.1).
    step_nt_rows = 64
    own = _kernels.OWN_PRODUCTS
    if n_out * n_in <= TINY_PRODUCT:
        return own["all"]
    build = _train.simd_kernels()
    fits = (n_out + n_in) * m * itemsize <= OWN_PRODUCT_BYTES
    if build == "avx512":
        few_rows = itemsize == 4 and n_out <= step_nt_rows
        return own["nn"] | (own["nt"] if fits or few_rows else 0)
    return 0
