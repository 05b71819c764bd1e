"""The course's optimizers and learning-rate schedules, checked and in NumPy.

``update_parameters_with_gd``, momentum (``initialize_velocity``,
``update_parameters_with_momentum``), RMSprop (``initialize_rmsprop``,
``update_parameters_with_rmsprop``), Adam (``initialize_adam``,
``update_parameters_with_adam``, with the bias correction), ``update_lr`` and
``schedule_lr_decay``: the names, signatures and returns of their twins in
``dnn.reference``. As in the course, each update stores *new* arrays in the
dicts it is given and returns them; the arithmetic runs in place in those new
arrays and one scratch buffer, operation for operation as the reference, so
the results are the reference's bits (same dtype in, same dtype out). The
compiled training loop, which updates its buffers in place, is to come.

The state dicts (``v``, ``s``) are keyed as gradients: ``dW1..dWL``, ``db1..dbL``.
"""

import numpy as np

from dnn import _course2_validation as c
from dnn import _lines
from dnn import _validation as _v  # (`v` is the course's name for the velocity)

__all__ = [
    "update_parameters_with_gd", "initialize_velocity", "update_parameters_with_momentum",
    "initialize_rmsprop", "update_parameters_with_rmsprop",
    "initialize_adam", "update_parameters_with_adam", "update_lr", "schedule_lr_decay",
]


# --------------------------------------------------------------------------
# The arithmetic, unchecked (dnn.course_model calls these once per mini-batch)
# --------------------------------------------------------------------------

def _moving_average(old, beta, new, scratch):
    """``beta * old + (1 - beta) * new`` into a new array (``scratch`` is overwritten)."""
    out = np.multiply(old, beta)
    np.multiply(new, 1 - beta, out=scratch)
    out += scratch
    return out


def _scratch(grads, keys):
    """One buffer for every layer's temporaries: ``view(key)`` is a gradient-shaped view of it."""
    buf = np.empty(max(grads["d" + key].size for key in keys), dtype=grads["d" + keys[0]].dtype)
    return lambda key: buf[:grads["d" + key].size].reshape(grads["d" + key].shape)


def _gd(parameters, grads, learning_rate, keys):
    for key in keys:
        step = np.multiply(grads["d" + key], learning_rate)
        parameters[key] = np.subtract(parameters[key], step, out=step)
    return parameters


def _momentum(parameters, grads, vel, beta, learning_rate, keys):
    view = _scratch(grads, keys)
    for key in keys:
        g = grads["d" + key]
        scratch = view(key)
        vel["d" + key] = _moving_average(vel["d" + key], beta, g, scratch)
        np.multiply(vel["d" + key], learning_rate, out=scratch)
        parameters[key] = np.subtract(parameters[key], scratch)
    return parameters, vel


def _rmsprop(parameters, grads, s, beta2, learning_rate, epsilon, keys):
    view = _scratch(grads, keys)
    for key in keys:
        g = grads["d" + key]
        scratch = np.square(g, out=view(key))
        s_new = np.multiply(s["d" + key], beta2)
        scratch *= 1 - beta2
        s_new += scratch
        s["d" + key] = s_new
        np.sqrt(s_new, out=scratch)
        scratch += epsilon
        step = np.multiply(g, learning_rate)
        step /= scratch
        parameters[key] = np.subtract(parameters[key], step, out=step)
    return parameters, s


def _adam(parameters, grads, vel, s, t, learning_rate, beta1, beta2, epsilon, keys):
    v_corrected, s_corrected = {}, {}
    bias1, bias2 = 1 - beta1 ** t, 1 - beta2 ** t
    view = _scratch(grads, keys)
    for key in keys:
        g, gk = grads["d" + key], "d" + key
        scratch = view(key)
        vel[gk] = _moving_average(vel[gk], beta1, g, scratch)
        v_corrected[gk] = np.divide(vel[gk], bias1)
        s_new = np.multiply(s[gk], beta2)
        np.square(g, out=scratch)
        scratch *= 1 - beta2
        s_new += scratch
        s[gk] = s_new
        s_corrected[gk] = np.divide(s_new, bias2)
        np.sqrt(s_corrected[gk], out=scratch)
        scratch += epsilon
        step = np.multiply(v_corrected[gk], learning_rate)
        step /= scratch
        parameters[key] = np.subtract(parameters[key], step, out=step)
    return parameters, vel, s, v_corrected, s_corrected


def _heavy_ball(parameters, grads, vel, momentum, learning_rate, nesterov, keys):
    """scikit-learn's SGD momentum (Polyak's heavy ball, or Nesterov's), new arrays as ``_momentum``.

    ``u = momentum u - learning_rate grad``; ``W = W + u``, or with ``nesterov``
    ``W = W + momentum u - learning_rate grad``. The course's momentum is the
    same step with ``learning_rate(1 - beta)`` in place of ``learning_rate``
    and ``u = -learning_rate v`` (while the rate stays constant).
    """
    view = _scratch(grads, keys)
    for key in keys:
        g, gk = grads["d" + key], "d" + key
        step = view(key)
        np.multiply(g, learning_rate, out=step)
        u = np.multiply(vel[gk], momentum)
        u -= step
        vel[gk] = u
        if nesterov:
            update = np.multiply(u, momentum)
            update -= step
        else:
            update = u
        parameters[key] = np.add(parameters[key], update)
    return parameters, vel


def _zeros(parameters, keys):
    """Zero state for ``keys``, each array on a cache line (``dnn._lines``: the loop's kernels stream it)."""
    return {"d" + key: _lines.zeros_like(parameters[key]) for key in keys}


# --------------------------------------------------------------------------
# The public, checked functions
# --------------------------------------------------------------------------

def _stored(parameters, params, keys):
    # The dicts the caller passed get the checked (maybe converted) arrays
    # before the update replaces them: results are new arrays either way.
    for key in keys:
        parameters[key] = params[key]


def update_parameters_with_gd(parameters, grads, learning_rate):
    """One step of gradient descent: ``W_l - learning_rate * dW_l``, same for ``b_l``.

    ``parameters`` (W1..WL, b1..bL) gets new arrays and is returned.
    """
    learning_rate = _v.real_scalar(learning_rate, "learning_rate")
    keys, params, states = c.state_arrays(parameters, grads=grads)
    _stored(parameters, params, keys)
    return _gd(parameters, states["grads"], learning_rate, keys)


def _initial_state(parameters):
    keys, params, _ = c.state_arrays(parameters)
    return _zeros(params, keys)


def initialize_velocity(parameters):
    """Momentum's velocity: zeros ``dW1..dWL``, ``db1..dbL`` of the parameters' shapes and dtype."""
    return _initial_state(parameters)


def initialize_rmsprop(parameters):
    """RMSprop's ``s``: zeros ``dW1..dWL``, ``db1..dbL`` of the parameters' shapes and dtype."""
    return _initial_state(parameters)


def initialize_adam(parameters):
    """Adam's ``(v, s)``: two dicts of zeros ``dW1..dWL``, ``db1..dbL``."""
    return _initial_state(parameters), _initial_state(parameters)


def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    """``v = beta v + (1 - beta) grad``, ``W = W - learning_rate v``; returns ``(parameters, v)``.

    ``beta`` in [0, 1]; ``v`` from ``initialize_velocity`` (keys dW1.., db1..).
    """
    vel = v
    beta = c.scalar_in(beta, "beta", 0.0, 1.0)
    learning_rate = _v.real_scalar(learning_rate, "learning_rate")
    keys, params, states = c.state_arrays(parameters, grads=grads, v=vel)
    _stored(parameters, params, keys)
    vel.update(states["v"])
    return _momentum(parameters, states["grads"], vel, beta, learning_rate, keys)


def update_parameters_with_rmsprop(parameters, grads, s, beta2, learning_rate, epsilon=1e-8):
    """``s = beta2 s + (1 - beta2) grad^2``, ``W = W - learning_rate grad / (sqrt(s) + epsilon)``.

    Returns ``(parameters, s)``. ``beta2`` in [0, 1), ``epsilon`` > 0.
    """
    beta2 = c.scalar_in(beta2, "beta2", 0.0, 1.0, high_open=True)
    learning_rate = _v.real_scalar(learning_rate, "learning_rate")
    epsilon = c.scalar_in(epsilon, "epsilon", 0.0, np.inf, low_open=True)
    keys, params, states = c.state_arrays(parameters, grads=grads, s=s)
    _stored(parameters, params, keys)
    s.update(states["s"])
    return _rmsprop(parameters, states["grads"], s, beta2, learning_rate, epsilon, keys)


def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999,
                                epsilon=1e-8):
    """One Adam step with bias correction; ``t`` counts the steps from 1 (to 2**63 - 1).

    ``v = beta1 v + (1 - beta1) grad``, ``v_corrected = v / (1 - beta1^t)``,
    ``s = beta2 s + (1 - beta2) grad^2``, ``s_corrected = s / (1 - beta2^t)``,
    ``W = W - learning_rate v_corrected / (sqrt(s_corrected) + epsilon)``.
    Returns ``(parameters, v, s, v_corrected, s_corrected)``, as the course.
    """
    vel = v
    t = _v.count(t, "t", minimum=1, maximum=_v.COUNTER_MAX)
    learning_rate = _v.real_scalar(learning_rate, "learning_rate")
    beta1 = c.scalar_in(beta1, "beta1", 0.0, 1.0, high_open=True)
    beta2 = c.scalar_in(beta2, "beta2", 0.0, 1.0, high_open=True)
    epsilon = c.scalar_in(epsilon, "epsilon", 0.0, np.inf, low_open=True)
    keys, params, states = c.state_arrays(parameters, grads=grads, v=vel, s=s)
    _stored(parameters, params, keys)
    vel.update(states["v"])
    s.update(states["s"])
    return _adam(parameters, states["grads"], vel, s, t, learning_rate, beta1, beta2, epsilon, keys)


# --------------------------------------------------------------------------
# Learning-rate decay
# --------------------------------------------------------------------------

def update_lr(learning_rate0, epoch_num, decay_rate):
    """``learning_rate0 / (1 + decay_rate * epoch_num)``, as a float (``epoch_num`` an int
    from 0 to 2**63 - 1)."""
    learning_rate0 = _v.real_scalar(learning_rate0, "learning_rate0")
    epoch_num = _v.count(epoch_num, "epoch_num", maximum=_v.COUNTER_MAX)
    decay_rate = c.scalar_in(decay_rate, "decay_rate", 0.0, np.inf)
    return 1 / (1 + decay_rate * epoch_num) * learning_rate0


def schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):
    """``learning_rate0 / (1 + decay_rate * floor(epoch_num / time_interval))``, as a float
    (``epoch_num`` as ``update_lr``'s)."""
    learning_rate0 = _v.real_scalar(learning_rate0, "learning_rate0")
    epoch_num = _v.count(epoch_num, "epoch_num", maximum=_v.COUNTER_MAX)
    decay_rate = c.scalar_in(decay_rate, "decay_rate", 0.0, np.inf)
    time_interval = _v.count(time_interval, "time_interval", minimum=1)
    return 1 / (1 + decay_rate * float(np.floor(epoch_num / time_interval))) * learning_rate0

