"""``L_model_backward``'s dict, whose ``dA0`` is computed when first read.

``dA0 = W1^T dZ1`` is the gradient with respect to X: the course returns it,
but no update reads it, and on a wide first layer it is a third of the
backward's multiply-adds (and an array the size of X). ``Gradients`` is a
``dict`` whose ``dA0`` is made on first use, from a copy of W1 and the dZ1 of
the call, with the product ``L_model_backward`` would have run: the same bits
(``dnn._kernels.backward`` for the course's network, ``dnn.network._backward``
for the second part's keywords).

The invariant: while ``dA0`` is pending it is not in the dict's storage, and
every method that could show or change the storage (iteration, views, repr,
comparison, copying, pickling, any mutation) computes it first, inserting it
where the course's dict has it. A read of another key (``grads["dW1"]``) is
the dict's own C lookup; ``__missing__`` serves ``grads["dA0"]``. Code that
reads the storage past the methods (``dict.keys(grads)``, C's
``PyDict_GetItem``) finds no ``dA0`` until it is read: a missing key, never a
wrong value.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

_settling_lock = threading.RLock()  # re-entrant: a signal handler's len() amid a settle goes on


class Gradients(dict):  # type: ignore[type-arg]
    """The gradients of ``L_model_backward``: a ``dict`` (see the module)."""

    __slots__ = ("_pending_key", "_pending", "_followers")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending_key: Optional[str] = None
        self._pending: Optional[Callable[[], Any]] = None
        self._followers = 0

    def _defer(self, key: str, compute: Callable[[], Any], followers: int) -> None:
        """Make ``key`` pending: ``compute()`` gives its value; it goes before the
        last ``followers`` keys of the storage."""
        self._pending_key, self._pending, self._followers = key, compute, followers

    def _settle(self) -> None:
        compute = self._pending
        if compute is None:
            return
        value = compute()  # may release the GIL: another thread may settle meanwhile
        with _settling_lock:  # one insertion, also where threads run without a GIL
            if self._pending is not compute:
                return
            tail = [dict.popitem(self) for _ in range(self._followers)]
            dict.__setitem__(self, self._pending_key, value)
            for k, v in reversed(tail):
                dict.__setitem__(self, k, v)
            self._pending = None

    def __missing__(self, key: Any) -> Any:
        if self._pending is not None and key == self._pending_key:
            self._settle()
            return dict.__getitem__(self, key)
        with _settling_lock:  # a settle moving the last keys on another thread (no GIL)
            if dict.__contains__(self, key):
                return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: Any) -> bool:
        if (self._pending is not None and key == self._pending_key) or dict.__contains__(self, key):
            return True
        with _settling_lock:
            return dict.__contains__(self, key)

    def __len__(self) -> int:
        with _settling_lock:  # not halfway through a settle on another thread
            return dict.__len__(self) + (self._pending is not None)

    def __eq__(self, other: Any) -> Any:
        self._settle()
        if isinstance(other, Gradients):
            other._settle()
        return dict.__eq__(self, other)

    def __ne__(self, other: Any) -> Any:
        self._settle()
        if isinstance(other, Gradients):
            other._settle()
        return dict.__ne__(self, other)

    def __reduce__(self) -> Any:
        """Pickled and copied as the plain dict it stands for."""
        self._settle()
        return dict, (dict(dict.items(self)),)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.__reduce__()


def _settling(name: str) -> Callable[..., Any]:
    method = getattr(dict, name)

    def settled(self: Gradients, *args: Any, **kwargs: Any) -> Any:
        if self._pending is not None:
            self._settle()
        return method(self, *args, **kwargs)

    settled.__name__ = settled.__qualname__ = name
    settled.__doc__ = method.__doc__
    return settled


for _name in ("__iter__", "__reversed__", "keys", "values", "items", "__repr__", "__or__", "__ror__",
              "__ior__", "copy", "__setitem__", "__delitem__", "pop", "popitem", "setdefault", "update",
              "clear"):
    setattr(Gradients, _name, _settling(_name))
del _name
