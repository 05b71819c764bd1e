"""The step calls' BLAS lending, BLAS slabs and result pool, as users meet them.

- the README's ``dnn.release_buffers()`` frees the pool a large loop grew;
- a step call that relies on BLAS running one thread holds it for the whole
  call, also when another lender (a sharded fit) is what holds it at its start;
- a large layer's BLAS products run in slabs, whose bits are not those of one
  whole gemm (OpenBLAS's kernels round a block's edges their own way): the
  same values give the same bits through the fast and the checked paths.
"""

import contextlib
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import dnn
from dnn import _blas_threads, _kernels, _products, reference

DTYPES = [np.float64, np.float32]

@pytest.fixture
def blas_products(monkeypatch):
    """Every product of the step calls on BLAS (as on a CPU without AVX-512)."""
    _products._find_thread_counters(_kernels)
    monkeypatch.setattr(_products, "for_step", lambda n, k, m, i: 0)


def test_release_buffers_frees_the_pool_a_large_loop_grew(random_network):
    # README: "the pool of them grows to hold two iterations of the largest loop
    # (at most 1 GiB; dnn.release_buffers() frees it)". Was: no such function.
    X, Y, p = random_network([784, 256, 1], 3000, np.float64)
    _kernels._pool_clear()
    try:
        for _ in range(3):
            AL, caches = dnn.L_model_forward(X, p)
            grads = dnn.L_model_backward(AL, Y, caches)
        del AL, caches, grads
        assert _kernels._pool_state()[0] > 0
        assert dnn.release_buffers() is None
        assert _kernels._pool_state() == (0, _kernels.POOL_BYTES)
    finally:
        _kernels._pool_clear()


def test_a_step_call_holds_blas_while_a_fit_that_held_it_ends(blas_products, monkeypatch, random_network):
    # Was: a step call that found BLAS at one thread because a sharded fit in
    # another thread held it there took that for the user's limit and did not
    # lend; the fit ending mid-call gave BLAS its threads back under the call's
    # slabs (each then a threaded gemm, beside the pool's threads).
    with threadpool_limits(2):
        if _blas_threads.blas_threads() < 2:
            pytest.skip("BLAS cannot run two threads here")
        real = _kernels.blas_lent
        lenders = []

        @contextlib.contextmanager
        def watched(wanted):
            with real(wanted) as threads:
                lenders.append(_blas_threads._lenders)
                yield threads

        monkeypatch.setattr(_kernels, "blas_lent", watched)
        X, Y, p = random_network([300, 160, 1], 700, np.float64)  # 33.6e6 multiply-adds: slabs
        with real(2):  # what a sharded fit in another thread does while it runs
            assert _blas_threads._current_threads() == 1
            AL, caches = dnn.L_model_forward(X, p)
            dnn.L_model_backward(AL, Y, caches)
        assert lenders == [2, 2]  # each call one more lender: the fit's end cannot give BLAS back
        assert _blas_threads._lenders == 0 and _blas_threads._current_threads() == 2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims,m", [([300, 160, 64, 1], 700), ([1000, 700, 1], 333)])
def test_the_same_values_give_the_same_bits_through_the_checked_path(dtype, dims, m, blas_products,
                                                                    random_network):
    # Caches that went through a copy come back as lists and take the checked path.
    # Was: the checked path ran each BLAS product whole, the fast path in slabs, and
    # OpenBLAS's slabs do not give the whole gemm's bits.
    X, Y, p = random_network(dims, m, dtype)
    AL, caches = dnn.L_model_forward(X, p)
    grads = dnn.L_model_backward(AL, Y, caches)
    listed = [((a.tolist(), w.tolist(), b.tolist()), z.tolist()) for (a, w, b), z in caches]
    grads_l = dnn.L_model_backward(AL.tolist(), Y, listed)
    assert sorted(grads_l) == sorted(grads)
    for k in grads:
        assert grads_l[k].dtype == np.float64  # lists are float64, as the course's would be
    if dtype == np.float64:
        for k in grads:
            assert np.array_equal(grads_l[k], grads[k]), k


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims,m", [([300, 160, 64, 1], 700), ([1000, 700, 1], 333), ([12288, 20, 7, 1], 209),
                                    ([7001, 3, 1], 37)])
@pytest.mark.parametrize("products", ["as is", "BLAS", "own"])
def test_a_fortran_ordered_X_is_read_in_place(dtype, dims, m, products, monkeypatch, random_network):
    # The course's X (X.reshape(m, -1).T, then / 255) is Fortran-ordered. Was: each
    # L_model_forward copied it to C order (20 MB for the cat pictures, with its page
    # faults): the course's loop over dnn ran 1.5x-2x slower than over NumPy. Now the
    # first layer reads it as X^T, in place (another kernel: the C-ordered X's
    # numbers to rounding), its cache holds the caller's X, as the course's does, and
    # the backward reads that cache in place too; the same bits at any thread count.
    if products == "BLAS":
        _products._find_thread_counters(_kernels)
        monkeypatch.setattr(_products, "for_step", lambda n, k, mm, i: 0)
    elif products == "own":  # nt_xt's blocks of features and groups of X^T's rows, every tail
        monkeypatch.setattr(_products, "for_step", lambda n, k, mm, i: _kernels.OWN_PRODUCTS["all"])
    X, Y, p = random_network(dims, m, dtype)
    XF = np.asfortranarray(X)
    AL, caches = dnn.L_model_forward(X, p)
    grads = dnn.L_model_backward(AL, Y, caches)
    AL_f, caches_f = dnn.L_model_forward(XF, p)
    assert caches_f[0][0][0] is XF
    grads_f = dnn.L_model_backward(AL_f, Y, caches_f)
    tol = dict(rtol=2e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(AL_f, AL, **tol)
    for k in grads:
        np.testing.assert_allclose(grads_f[k], grads[k], **tol, err_msg=k)
    want_AL, want_caches = reference.L_model_forward(XF, p)
    want = reference.L_model_backward(want_AL, Y, want_caches)
    for k in want:
        np.testing.assert_allclose(grads_f[k], want[k], **tol, err_msg=k)
    saved = _kernels._step_settings()
    try:
        for threads in (2, 3):
            _kernels._set_step_threads(threads, 0)
            AL_t, caches_t = dnn.L_model_forward(XF, p)
            grads_t = dnn.L_model_backward(AL_t, Y, caches_t)
            assert np.array_equal(AL_t, AL_f)
            for k in grads_f:
                assert np.array_equal(grads_t[k], grads_f[k]), (threads, k)
    finally:
        _kernels._set_step_threads(*saved)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_blas_is_lent_starts_unlent():
    # Step calls now lend BLAS on every call with a product OpenBLAS would thread,
    # and the lock is held across threadpoolctl's calls (which release the GIL).
    # Was: a child forked meanwhile by another thread waited for ever on the lock
    # at its first large step call or fit, and one forked while a call held BLAS
    # at one thread kept it there (its lender does not exist in the child).
    with threadpool_limits(2):
        if _blas_threads.blas_threads() < 2:
            pytest.skip("BLAS cannot run two threads here")
        with _blas_threads.blas_lent(2):
            assert _blas_threads._current_threads() == 1
            _blas_threads._lock.acquire()  # as another thread lending or giving back holds it
            try:
                pid = os.fork()
                if pid == 0:  # the child: report by exit status only
                    code = 3
                    try:
                        got = _blas_threads._lock.acquire(timeout=5)
                        code = 0 if (got and _blas_threads._lenders == 0
                                     and _blas_threads._current_threads() == 2) else 1
                    finally:
                        os._exit(code)
            finally:
                _blas_threads._lock.release()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert _blas_threads._current_threads() == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_a_call_owns_the_pool_starts_its_own():
    # Was: a child forked while another thread's step call owned the pool found it owned for
    # ever (its owner does not exist there) and ran every call on one thread.
    rng = np.random.default_rng(0)
    params = dnn.initialize_parameters_deep([200, 200, 1])
    X = rng.standard_normal((200, 400))
    saved = _kernels._step_settings()
    _kernels._set_step_threads(2, min_work=1)
    try:
        want, _ = dnn.L_model_forward(X, params)
        assert _kernels._pool_own(True)  # as the parent's other thread, inside a call
        try:
            pid = os.fork()
            if pid == 0:  # the child: report by exit status only
                code = 3
                try:
                    got, _ = dnn.L_model_forward(X, params)
                    code = 0 if (_kernels._pool_helpers() >= 1 and np.array_equal(got, want)) else 1
                finally:
                    os._exit(code)
            assert not _kernels._pool_own(True)  # still this process's: a second owner waits its turn
        finally:
            _kernels._pool_own(False)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        _kernels._set_step_threads(*saved)


def test_lending_sets_and_gives_back_every_openblas_directly():
    # every BLAS library a pthreads OpenBLAS (the wheels'): lent through its own
    # get/set_num_threads, not threadpoolctl's limiter; held at one thread inside,
    # the counts as they were after, and nothing lent at the user's one thread
    from threadpoolctl import threadpool_info

    libs = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    if not libs or any(lib.get("internal_api") != "openblas"
                       or lib.get("threading_layer") != "pthreads" for lib in libs):
        pytest.skip("BLAS is not a pthreads OpenBLAS here")
    assert len(_blas_threads._openblas_calls()) == len(libs)
    with threadpool_limits(limits=2):
        before = [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]
        with _blas_threads.blas_lent(2) as threads:
            assert threads == min(2, min(before))
            assert all(lib["num_threads"] == 1 for lib in threadpool_info()
                       if lib.get("user_api") == "blas")
            assert _blas_threads.blas_threads() == min(before)  # the user's count, not the lent one
        assert [lib["num_threads"] for lib in threadpool_info()
                if lib.get("user_api") == "blas"] == before
    with threadpool_limits(limits=1), _blas_threads.blas_lent(2) as threads:
        assert threads == 1
