"""The step-by-step API's product rule (``for_step``); the training loop's are ``dnn._plan``'s."""

from dnn import _train
from dnn._plan import OWN_PRODUCT_BYTES, TINY_PRODUCT

__all__ = ["TINY_PRODUCT", "OWN_PRODUCT_BYTES", "for_step"]


def for_step(n_out, n_in, m, itemsize):
    """Whether one step-by-step call's products (``dnn._kernels``' ``own``) skip BLAS.

    A layer of ``n_out`` units on ``n_in`` inputs and ``m`` examples: tiny
    layers on any CPU; on an AVX-512 CPU, any layer whose operands fit in
    ``OWN_PRODUCT_BYTES``, where one thread of ours beat BLAS's two (on S3's
    and S6's layers, each call of the step-by-step API).
    """
    if n_out * n_in <= TINY_PRODUCT:
        return True
    return (_train.simd_kernels() == "avx512"
            and (n_out + n_in) * m * itemsize <= OWN_PRODUCT_BYTES)
