"""``MRG_RandomStreams``: Theano 1.0.5's MRG31k3p random streams, drawing Theano's numbers.

Each draw gets a shared int32 state matrix (one row per stream, rows 2^72 steps apart); the
streams object moves its master state 2^134 steps on per draw, and the state's default update
advances it on every call of a compiled function, as in Theano.
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from symconv.config import config
from symconv.gradient import disconnected_grad
from symconv.graph import Constant, SharedVariable, Variable, as_tensor_variable, constant
from symconv.ops import mrg
from symconv.ops.elemwise import cast, upcast
from symconv.ops.random import (box_muller, box_muller_truncated, choice_from_uniform, fma,
                                mrg_uniform, mrg_uniform_state, multinomial_from_uniform)
from symconv.shared import shared

__all__ = ["MRG_RandomStreams", "guess_n_streams"]


def guess_n_streams(size: Any, warn: bool = False) -> int:
    """Theano's stream count: prod(size) // 6 (if over 6) up to 60 * 256; 60 * 256 when the
    size is symbolic."""
    if isinstance(size, (tuple, list)) and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in size):
        r = 1
        for s in size:
            r *= int(s)
        if r > 6:
            r = r // 6
        return min(r, 60 * 256)
    if warn:
        warnings.warn(f"MRG_RandomStreams can't determine #streams from size ({size}), "
                      f"guessing 60*256", stacklevel=3)
    return 60 * 256


def _check_size(size: Any) -> Variable:
    """``size`` (an int, a tuple of ints / scalar variables, or a vector) as an int vector."""
    if isinstance(size, Variable):
        if size.ndim == 1:
            return size
        if size.ndim == 0:
            from symconv.tensor.basic import stack
            return stack([size])
        raise ValueError(f"a symbolic size must have 1 dimension, got {size} of type "
                         f"{size.type}")
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return constant([int(size)], ndim=1)
    if not isinstance(size, (tuple, list)):
        raise ValueError(f"size must be an int, a tuple, a list or a symbolic vector; got "
                         f"{size!r}")
    for i in size:
        if isinstance(i, Variable):
            if i.ndim != 0:
                raise ValueError(f"non-scalar variable {i} in size {size}")
        elif isinstance(i, (int, np.integer)):
            if i <= 0:
                raise ValueError(f"non-positive dimension {i} in size {size}")
        else:
            raise ValueError(f"only variables and integers are allowed in a size tuple; got "
                             f"{i!r} in {size}")
    return as_tensor_variable(tuple(size), ndim=1)


def _is_value(var: Variable, value: float) -> bool:
    # x * 1 + 0 needs no node: Theano's fused multiply-add gives x back exactly
    while var.owner is not None and var.owner.op.name in ("disconnected_grad", "cast"):
        var = var.owner.inputs[0]
    return isinstance(var, Constant) and var.data.size == 1 and bool(var.data == value)


def _size_vector(size: Any) -> Variable:
    size = as_tensor_variable(size)
    if size.ndim != 1 or size.dtype[0] not in "iu":
        raise TypeError(f"size must be a tuple of int or an integer vector, got {size} of type "
                        f"{size.type}")
    return size


class MRG_RandomStreams:
    """Random streams with an interface like ``numpy.random.RandomState``, drawn by MRG31k3p.

    Parameters
    ----------
    seed : int or sequence of 6 ints
        One int is used six times; the first three must be below M1 = 2147483647 and not all
        0, the last three below M2 = 2147462579 and not all 0.
    """

    def __init__(self, seed: int | Sequence[int] = 12345) -> None:
        self.state_updates: list[tuple[SharedVariable, Variable, Any, int | None]] = []
        self.default_instance_seed = seed
        self.set_rstate(seed)

    def updates(self) -> list[tuple]:
        """(state, new state, size, nstreams) of every draw made so far."""
        return list(self.state_updates)

    def set_rstate(self, seed: int | Sequence[int]) -> None:
        """Set the master state from a seed (validated as Theano does)."""
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seed = int(seed)
            if seed == 0:
                raise ValueError("seed should not be 0")
            if seed < 0 or seed >= mrg.M2:
                raise ValueError(f"seed should be in [1, {mrg.M2}), got {seed}")
            self.rstate = np.asarray([seed] * 6, dtype="int32")
            return
        seed = list(seed)
        if len(seed) != 6:
            raise TypeError(f"seed should be 1 integer or 6 integers, got {seed!r}")
        if not any(seed[:3]) or not any(seed[3:]):
            raise ValueError(f"neither the first 3 nor the last 3 values of seed may be all 0: "
                             f"{seed}")
        if any(not 0 <= s < mrg.M1 for s in seed[:3]) or any(
                not 0 <= s < mrg.M2 for s in seed[3:]):
            raise ValueError(f"the first 3 values of seed must be in [0, {mrg.M1}) and the "
                             f"last 3 in [0, {mrg.M2}); got {seed}")
        self.rstate = np.asarray(seed, dtype="int32")

    def seed(self, seed: int | Sequence[int] | None = None) -> None:
        """Re-initialise every stream drawn so far from ``seed`` (default: the constructor's)."""
        if seed is None:
            seed = self.default_instance_seed
        self.set_rstate(seed)
        for old_r, _, size, nstreams in self.state_updates:
            if nstreams is None:
                nstreams = self.n_streams(size)
            rstates = self.get_substream_rstates(nstreams, "float64")
            old_r.set_value(rstates, borrow=True)

    def inc_rstate(self) -> None:
        """Move the master state 2^134 steps on, to the next stream's start."""
        self.rstate = mrg.jump(self.rstate, (mrg.A1P134, mrg.A2P134)).astype(np.int32)

    def get_substream_rstates(self, n_streams: int, dtype: str, inc_rstate: bool = True
                              ) -> np.ndarray:
        """An (n_streams, 6) state matrix whose rows are 2^72 steps apart."""
        rval = mrg.substream_states(self.rstate, int(n_streams))
        if inc_rstate:
            self.inc_rstate()
        return rval

    def n_streams(self, size: Any) -> int:
        return guess_n_streams(size)

    def uniform(self, size: Any, low: Any = 0.0, high: Any = 1.0, ndim: int | None = None,
                dtype: str | None = None, nstreams: int | None = None, **kwargs: Any
                ) -> Variable:
        """Uniform draws in (low, high) of shape ``size``; dtype at least floatX."""
        if kwargs.pop("target", None) not in (None, "cpu"):
            raise NotImplementedError("MRG_RandomStreams: only target='cpu' is supported")
        if kwargs:
            raise TypeError(f"uniform() got unexpected keyword arguments {sorted(kwargs)}")
        low, high = as_tensor_variable(low), as_tensor_variable(high)
        if dtype is None:
            dtype = upcast(config.floatX, low.dtype, high.dtype)
        low = disconnected_grad(cast(low, dtype))
        high = disconnected_grad(cast(high, dtype))
        if isinstance(size, tuple):
            if not all(isinstance(i, (int, np.integer, Variable)) for i in size):
                raise TypeError(f"size must be a tuple of int or a symbolic vector, got {size}")
            if any(isinstance(i, (int, np.integer)) and i <= 0 for i in size):
                raise ValueError(f"the specified size contains a dimension with value <= 0: "
                                 f"{size}")
        elif not (isinstance(size, Variable) and size.ndim == 1):
            raise TypeError(f"size must be a tuple of int or a symbolic vector with 1 "
                            f"dimension, got {size!r} of type {type(size).__name__}")
        orig_nstreams = nstreams
        if nstreams is None:
            nstreams = self.n_streams(size)
        rstates = self.get_substream_rstates(nstreams, dtype)
        node_rstate = shared(rstates)
        v_size = _size_vector(size)
        if ndim is None:
            ndim = v_size.type.shape[0]
            if ndim is None:
                raise ValueError(f"the length of size {size} is not known; pass ndim")
        static = None
        if isinstance(size, tuple) and len(size) == ndim:   # Theano: size 1 is broadcastable
            static = tuple(int(s) if isinstance(s, (int, np.integer)) else
                           int(s.data) if isinstance(s, Constant) else None for s in size)
        u = mrg_uniform(node_rstate, v_size, dtype=dtype, ndim=int(ndim), shape=static)
        new_rstate = mrg_uniform_state(node_rstate, v_size, ndim=int(ndim))
        node_rstate.default_update = new_rstate
        self.state_updates.append((node_rstate, new_rstate, size, orig_nstreams))
        r = u if _is_value(low, 0) and _is_value(high, 1) else fma(u, high - low, low)
        if r.type.broadcastable != u.type.broadcastable:
            raise NotImplementedError("Increase the size to match the broadcasting pattern of "
                                      "`low` and `high` arguments")
        return r

    def binomial(self, size: Any = None, n: int = 1, p: Any = 0.5, ndim: int | None = None,
                 dtype: str = "int64", nstreams: int | None = None, **kwargs: Any
                 ) -> Variable:
        """1 where a uniform draw is below p (n must be 1, as in Theano)."""
        if n != 1:
            raise NotImplementedError("MRG_RandomStreams.binomial with n > 1")
        p = disconnected_grad(as_tensor_variable(p))
        x = self.uniform(size=size, nstreams=nstreams, **kwargs)
        return cast(x < p, dtype)

    def multinomial(self, size: Any = None, n: int = 1, pvals: Any = None,
                    ndim: int | None = None, dtype: str = "int64",
                    nstreams: int | None = None, **kwargs: Any) -> Variable:
        """Counts of ``n`` draws from each row of ``pvals`` (a matrix)."""
        if pvals is None:
            raise TypeError("You have to specify pvals")
        pvals = disconnected_grad(as_tensor_variable(pvals))
        if size is not None:
            raise ValueError("MRG_RandomStreams.multinomial does not use the size argument")
        if ndim is not None:
            raise ValueError("MRG_RandomStreams.multinomial does not use the ndim argument")
        if pvals.ndim != 2:
            raise NotImplementedError("MRG_RandomStreams.multinomial only implemented for "
                                      "pvals.ndim = 2")
        unis = self.uniform(size=pvals[:, 0].shape * n, ndim=1, nstreams=nstreams, **kwargs)
        return multinomial_from_uniform(pvals, unis, as_tensor_variable(n), odtype=dtype)

    def choice(self, size: Any = 1, a: Any = None, replace: bool = True, p: Any = None,
               ndim: int | None = None, dtype: str = "int64", nstreams: int | None = None,
               **kwargs: Any) -> Variable:
        """``size`` indices per row of ``p`` drawn without replacement (replace=False)."""
        if replace:
            raise NotImplementedError("MRG_RandomStreams.choice only works without replacement "
                                      "for now.")
        if a is not None:
            raise TypeError("For now, a has to be None in MRG_RandomStreams.choice")
        if p is None:
            raise TypeError("For now, p has to be specified in MRG_RandomStreams.choice.")
        p = disconnected_grad(as_tensor_variable(p))
        if ndim is not None:
            raise ValueError("ndim argument to MRG_RandomStreams.choice is not used.")
        if p.ndim != 2:
            raise NotImplementedError("MRG_RandomStreams.choice is only implemented for "
                                      "p.ndim = 2")
        unis = self.uniform(size=p[:, 0].shape * size, ndim=1, nstreams=nstreams, **kwargs)
        return choice_from_uniform(p, unis, as_tensor_variable(size), odtype=dtype,
                                   replace=False)

    def multinomial_wo_replacement(self, size: Any = None, n: int = 1, pvals: Any = None,
                                   ndim: int | None = None, dtype: str = "int64",
                                   nstreams: int | None = None, **kwargs: Any) -> Variable:
        """Deprecated in Theano 1.0.5: ``choice(size=n, replace=False, p=pvals)``."""
        warnings.warn("MRG_RandomStreams.multinomial_wo_replacement() is deprecated; use "
                      "MRG_RandomStreams.choice() instead.", stacklevel=2)
        if size is not None:
            raise ValueError("multinomial_wo_replacement does not use size; pass n")
        return self.choice(size=n, a=None, replace=False, p=pvals, dtype=dtype,
                           nstreams=nstreams, ndim=ndim, **kwargs)

    def normal(self, size: Any, avg: Any = 0.0, std: Any = 1.0, ndim: int | None = None,
               dtype: str | None = None, nstreams: int | None = None, truncate: bool = False,
               **kwargs: Any) -> Variable:
        """Normal draws by Box-Muller on an even number of uniforms (``truncate``: |z| <= 2)."""
        from symconv.tensor import basic as T
        size = _check_size(size)
        avg = disconnected_grad(as_tensor_variable(avg))
        std = disconnected_grad(as_tensor_variable(std))
        if dtype is None:
            dtype = upcast(config.floatX, avg.dtype, std.dtype)
        avg, std = cast(avg, dtype), cast(std, dtype)
        n_odd = T.prod(size, dtype="int64")
        n_even = n_odd + n_odd % 2
        uniform = self.uniform((n_even,), low=0.0, high=1.0, ndim=1, dtype=dtype,
                               nstreams=nstreams, **kwargs)
        u1 = uniform[:n_even // 2]
        u2 = uniform[n_even // 2:]
        if truncate:
            z = box_muller(u1, u2)
            n_fix = T.sum((z < -2.0) | (z > 2.0), dtype="int64")
            lower = constant(1.0 / np.e ** 2, dtype=dtype)
            u_fix = self.uniform((n_fix,), low=lower, high=1.0, ndim=1, dtype=dtype,
                                 nstreams=nstreams, **kwargs)
            norm_samples = box_muller_truncated(u1, u2, u_fix)
        else:
            norm_samples = box_muller(u1, u2)
        samples = norm_samples[:n_odd]
        if ndim is None:
            ndim = size.type.shape[0]
        samples = T.reshape(samples, size, ndim=ndim)
        return samples if _is_value(std, 1) and _is_value(avg, 0) else fma(samples, std, avg)

    def truncated_normal(self, size: Any, avg: Any = 0.0, std: Any = 1.0,
                         ndim: int | None = None, dtype: str | None = None,
                         nstreams: int | None = None, **kwargs: Any) -> Variable:
        """Normal draws truncated at 2 standard deviations, rescaled to standard deviation
        ``std`` (Theano's constant: scipy's truncnorm(-2, 2).std())."""
        std = std / constant(0.87962566103423978)
        return self.normal(size=size, avg=avg, std=std, truncate=True, ndim=ndim,
                           dtype=dtype, nstreams=nstreams, **kwargs)

