"""NumPy ``RandomState`` draws as Theano 1.0.5's raw_random makes them, and the state as a tensor.

A RandomState (MT19937) is carried through graphs as a uint32 vector of ``STATE_SIZE``: the
624 key words, the position, the has-gauss flag and the cached gaussian's 64 bits. NumPy 2
keeps RandomState's legacy streams, so the same calls give Theano's numbers.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

STATE_SIZE = 624 + 2 + 2


def encode_state(rng: np.random.RandomState) -> np.ndarray:
    """The RandomState's full state as a uint32 vector."""
    name, key, pos, has_gauss, gauss = rng.get_state(legacy=True)
    tail = np.array([pos, has_gauss], np.uint32)
    return np.concatenate([key.astype(np.uint32), tail,
                           np.array([gauss], np.float64).view(np.uint32)])


def decode_state(state: np.ndarray) -> np.random.RandomState:
    """A RandomState in the state ``encode_state`` wrote."""
    state = np.asarray(state)
    if state.shape != (STATE_SIZE,) or state.dtype != np.uint32:
        raise ValueError(f"a RandomState vector is uint32 of shape ({STATE_SIZE},), got "
                         f"{state.dtype} of shape {state.shape}")
    rng = np.random.RandomState()
    gauss = float(state[626:628].copy().view(np.float64)[0])
    rng.set_state(("MT19937", state[:624].copy(), int(state[624]), int(state[625]), gauss))
    return rng


def _broadcast_indices(out_shape: tuple, *shapes: tuple) -> list[list[tuple]]:
    # Theano's _generate_broadcasting_indices: index lists over out_shape and each shape,
    # in C order, with broadcast (size 1) axes held at 0
    result: list[list[tuple]] = [[()] for _ in range(len(shapes) + 1)]
    for dim, size in enumerate(out_shape):
        ranges = [range(size)]
        for shape in shapes:
            if shape[dim] == size:
                ranges.append(range(size))
            elif shape[dim] == 1:
                ranges.append([0] * size)
            else:
                raise ValueError(f"shape[{dim}] ({shape[dim]}) should be equal to "
                                 f"out_shape[{dim}] ({size}) or to 1")
        new: list[list[tuple]] = [[] for _ in result]
        for prev in zip(*result):
            for idx in zip(*ranges):
                for k in range(len(result)):
                    new[k].append(prev[k] + (idx[k],))
        result = new
    return result


def _pad(a: np.ndarray, ndim: int, what: str, size: tuple | None) -> np.ndarray:
    if a.ndim > ndim:
        raise ValueError(f"{what}.ndim ({a.ndim}) should not be larger than len(size) "
                         f"({ndim}); size={size}")
    return a.reshape((1,) * (ndim - a.ndim) + a.shape)


def _random_integers(rng: np.random.RandomState, low: np.ndarray, high: np.ndarray,
                     size: tuple | None) -> np.ndarray:
    ndim = len(size) if size is not None else max(low.ndim, high.ndim)
    low, high = _pad(low, ndim, "low", size), _pad(high, ndim, "high", size)
    out_size = tuple(size) if size is not None else tuple(
        max(a, b) for a, b in zip(low.shape, high.shape))
    out = np.ndarray(out_size)
    for oi, li, hi in zip(*_broadcast_indices(out_size, low.shape, high.shape)):
        out[oi] = rng.randint(low=low[li], high=high[hi] + 1)
    return out


def _choice(rng: np.random.RandomState, a: np.ndarray, replace: np.ndarray, p: np.ndarray,
            size: tuple | None) -> np.ndarray:
    if a.ndim > 1:
        raise ValueError(f"a.ndim ({a.ndim}) must be 0 or 1")
    if p.ndim != 1:
        raise ValueError(f"p.ndim ({p.ndim}) must be 1")
    return rng.choice(a, size, bool(replace), None if p.size == 0 else p)


def _permutation(rng: np.random.RandomState, n: np.ndarray, size: tuple | None) -> np.ndarray:
    n = int(np.asarray(n).item())
    shape = tuple(size) if size is not None else ()
    out = np.empty(shape + (n,), int)
    for i in np.ndindex(*shape):
        out[i] = rng.permutation(n)
    return out


def _multinomial(rng: np.random.RandomState, n: np.ndarray, pvals: np.ndarray,
                 size: tuple | None) -> np.ndarray:
    ndim = len(size) if size is not None else max(n.ndim, pvals.ndim - 1)
    n = _pad(n, ndim, "n", size)
    if pvals.ndim - 1 > ndim:
        raise ValueError(f"pvals.ndim-1 ({pvals.ndim - 1}) should not be larger than "
                         f"len(size) ({ndim})")
    pvals = pvals.reshape((1,) * (ndim - pvals.ndim + 1) + pvals.shape)
    shape = tuple(size) if size is not None else tuple(
        max(a, b) for a, b in zip(n.shape, pvals.shape))
    out = np.ndarray(shape + (pvals.shape[-1],))
    if pvals.size and pvals.min() < 0:
        raise ValueError("multinomial: pvals must be non-negative")
    for mi, ni, pi in zip(*_broadcast_indices(shape, n.shape, pvals.shape[:-1])):
        pvi = pvals[pi]
        total = np.sum(pvi)
        if 1.0 < total < 1.0 + 1e-5 or pvi[-1] < 5e-5:   # Theano's nudge below 1
            pvi = pvi * (1.0 - 5e-5)
            total = np.sum(pvi)
        if total > 1.0:
            raise ValueError(f"multinomial: pvals sum to {total} > 1")
        out[mi] = rng.multinomial(n=n[ni], pvals=pvi.astype("float64"))
    return out


_METHODS: dict[str, Callable[..., Any]] = {
    "uniform": lambda rng, size, low, high: rng.uniform(low, high, size),
    "normal": lambda rng, size, avg, std: rng.normal(avg, std, size),
    "binomial": lambda rng, size, n, p: rng.binomial(n, p, size),
    "poisson": lambda rng, size, lam: rng.poisson(lam, size),
    "random_integers": lambda rng, size, low, high: _random_integers(rng, low, high, size),
    "choice": lambda rng, size, a, replace, p: _choice(rng, a, replace, p, size),
    "permutation": lambda rng, size, n: _permutation(rng, n, size),
    "multinomial": lambda rng, size, n, pvals: _multinomial(rng, n, pvals, size),
}
METHODS = tuple(_METHODS)


def draw(rng: np.random.RandomState, method: str, size: tuple, args: tuple) -> Any:
    """One Theano RandomFunction call: ``size == ()`` means "the shape of the arguments"."""
    return _METHODS[method](rng, size if len(size) else None, *args)
