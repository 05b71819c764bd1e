"""Type stubs for the compiled training loop (dnn/_train.pyx)."""
from typing import List, Tuple

import numpy as np
import numpy.typing as npt

def shard_bounds(m: int, shards: int) -> List[int]: ...
SIMD_LEVELS: Tuple[str, ...]
OWN_PRODUCTS: dict[str, int]

SLAB_THREADS: int

def slabs(M: int, N: int, K: int) -> int: ...
def layer_slabbed(n_out: int, n_in: int, m: int) -> bool: ...
def _set_slabs(slabs: int) -> int: ...
def simd_kernels(use: str | None = ...) -> str: ...
def simd_cpu_level() -> str: ...
def output_gradient(
    Z: npt.NDArray[np.floating], Y: npt.NDArray[np.floating]
) -> Tuple[npt.NDArray[np.floating], float]: ...

class Trainer:
    """One training run's workspace; ``run`` updates the given W and b in place."""

    def __init__(
        self,
        weights: List[npt.NDArray[np.floating]],
        biases: List[npt.NDArray[np.floating]],
        X: npt.NDArray[np.floating],
        Y: npt.NDArray[np.floating],
        learning_rate: float,
        samples_major: bool = ...,
        gram: bool = ...,
        shards: int = ...,
        own: List[int] | None = ...,
        threads: int = ...,
    ) -> None: ...
    @property
    def gram(self) -> bool: ...
    @property
    def shards(self) -> int: ...
    @property
    def iterations_done(self) -> int: ...
    @property
    def last_cost(self) -> float: ...
    def run(
        self, start: int, stop: int, cost_at: int = ..., budget: float = ..., threads: int = ...
    ) -> Tuple[int, float]: ...
