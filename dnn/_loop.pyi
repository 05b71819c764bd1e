"""Type stubs for the compiled mini-batch loop (dnn/_loop.pyx)."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

ACTIVATIONS: Tuple[str, ...]
OUTPUTS: Tuple[str, ...]
OPTIMIZERS: Tuple[str, ...]
PRODUCTS: Tuple[str, ...]
USES_V: Tuple[str, ...]
USES_S: Tuple[str, ...]
NT_MIN_BATCH_BYTES: int
WIDE_MIN_INPUTS: int
WIDE_VECTOR_KERNELS: bool
WIDE_BLOCK_BYTES: int
WIDE_GATHER_BYTES: int
WIDE_GATHER_ON_ONE_THREAD: bool
WIDE_TRIAL_WARM_UPS: int
WIDE_TRIAL_ROUNDS: int
MAX_THREADS: int
TEAM_SMALL_LAYER_WORK: int

_Pair = Tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]

class Loop:
    """One fit's workspace; ``epoch`` updates the given parameters and state in place."""

    m: int
    batch_size: int
    loss: float
    loss_l2: float
    t: int
    step: int
    epochs: int
    wide: bool
    wide_block: int
    wide_gather: bool
    threads: int
    epoch_threads: int
    numpy_blas: bool
    uses_blas: bool

    def __init__(
        self,
        layers: Sequence[_Pair],
        X: npt.NDArray[np.floating],
        Y: npt.NDArray[np.floating],
        *,
        hidden: str = ...,
        output: str = ...,
        optimizer: str = ...,
        batch_size: int = ...,
        lambd: float = ...,
        keep: Optional[Sequence[float]] = ...,
        dropout_seed: int = ...,
        beta: float = ...,
        beta1: float = ...,
        beta2: float = ...,
        epsilon: float = ...,
        v: Optional[Sequence[_Pair]] = ...,
        s: Optional[Sequence[_Pair]] = ...,
        products: Union[str, Sequence[Tuple[bool, bool]]] = ...,
        wide: Union[str, bool, int] = ...,
        threads: int = ...,
        sample_weight: Optional[npt.NDArray[np.floating]] = ...,
        numpy_blas: bool = ...,
        wide_gather: Union[str, bool] = ...,
    ) -> None: ...
    def epoch(
        self, order: Optional[npt.NDArray[np.int64]], learning_rate: float, t: int = ..., step: int = ...
    ) -> Tuple[float, int, int]: ...

def numpy_gemm_found() -> bool: ...
def flushes_subnormals() -> bool: ...
def wide_auto(n0: int) -> bool: ...
def wide_block(n0: int, batch: int, itemsize: int) -> int: ...
def dropout_uniform(n: int, m: int, seed: int, layer: int, iteration: int) -> npt.NDArray[np.float64]: ...
