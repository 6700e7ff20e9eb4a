"""``RandomStreams``: Theano's NumPy-``RandomState``-backed random streams (same numbers).

Every draw owns a RandomState seeded from the streams' master generator, held in a shared
variable (``rv.rng``) whose default update is the state after the draw. The draws run on the
host with NumPy's legacy RandomState streams, whatever the device.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from symconv.config import config
from symconv.graph import Constant, SharedVariable, TensorType, Variable, as_tensor_variable
from symconv.ops.elemwise import cast, upcast
from symconv.ops.random import permute_row_elements_op, rs_draw, rs_state
from symconv.ops.random_numpy import STATE_SIZE, decode_state, encode_state

__all__ = ["RandomStreams", "RandomStateSharedVariable", "randomstate_shared"]


class RandomStateSharedVariable(SharedVariable):
    """A shared NumPy RandomState: ``get_value()`` returns a RandomState, ``set_value`` takes
    one (inside graphs it is its state as a uint32 vector)."""

    __slots__ = ()

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> Any:
        state = self.container.get(borrow, return_internal_type)
        return state if return_internal_type else decode_state(np.asarray(state))

    def set_value(self, value: Any, borrow: bool = False) -> None:
        if isinstance(value, np.random.RandomState):
            value = encode_state(value)
        self.container.set(value, borrow, self)


def randomstate_shared(value: np.random.RandomState, name: str | None = None,
                       borrow: bool = False) -> RandomStateSharedVariable:
    """A shared variable holding (a copy of) a NumPy RandomState."""
    from symconv.backends import backend_for
    from symconv.shared import Container
    if not isinstance(value, np.random.RandomState):
        raise TypeError(f"randomstate_shared needs a numpy.random.RandomState, got "
                        f"{type(value).__name__}")
    type_ = TensorType("uint32", (STATE_SIZE,))
    var = RandomStateSharedVariable(type_, None, name)
    state = encode_state(value if borrow else copy.deepcopy(value))
    var.container = Container(type_, state, backend_for("uint32"), None)
    var.default_update = None
    return var


class RandomVariable(Variable):
    """A draw: ``.rng`` is its RandomState shared variable, ``.update`` its (rng, new) pair
    (and ``.permutation`` the permutation of a ``shuffle_row_elements`` result)."""

    __slots__ = ("rng", "update", "permutation")


def _infer_ndim_shape(ndim: int | None, shape: Any, *args: Variable
                      ) -> tuple[int, Variable, tuple]:
    """Theano's _infer_ndim_bcast: (ndim, int64 size vector, static shape of the draw)."""
    from symconv.tensor.basic import stack
    args_ndim = max((a.ndim for a in args), default=0)
    if isinstance(shape, (tuple, list)):
        if ndim is not None and len(shape) != ndim:
            raise ValueError(f"ndim should be equal to len(shape), but ndim = {ndim}, "
                             f"len(shape) = {len(shape)}, shape = {shape}")
        ndim = len(shape)
        entries: list[Any] = []
        static: list[int | None] = []
        for i, s in enumerate(shape):
            if isinstance(s, Variable):
                entries.append(cast(s, "int64"))
                static.append(int(s.data) if isinstance(s, Constant) else None)
            elif s >= 0:
                entries.append(int(s))
                static.append(int(s))
            elif s == -1:    # borrow the size of a non-broadcastable argument's matching axis
                found = [a for a in args if i >= ndim - a.ndim]
                for a in found:
                    axis = i + a.ndim - ndim
                    if a.type.shape[axis] != 1:
                        entries.append(cast(a.shape[axis], "int64"))
                        static.append(a.type.shape[axis])
                        break
                else:
                    if not found:
                        raise ValueError("Auto-shape of -1 must overlap with the shape of one "
                                         "of the broadcastable inputs")
                    entries.append(1)
                    static.append(1)
            else:
                raise ValueError(f"negative shape {s} in {shape}")
        if not entries:
            v_shape = as_tensor_variable(np.zeros(0, np.int64))
        elif any(isinstance(e, Variable) for e in entries):
            v_shape = stack([as_tensor_variable(e) if isinstance(e, Variable)
                             else as_tensor_variable(np.int64(e)) for e in entries])
        else:
            v_shape = as_tensor_variable(np.array(entries, np.int64))
        static_shape = tuple(static)
    elif shape is None:
        if not args:
            raise TypeError("_infer_ndim_bcast cannot infer shape without either shape or args")
        template = args[0]
        for a in args[1:]:
            template = template + a
        v_shape, static_shape, ndim = template.shape, template.type.shape, template.ndim
    else:
        v_shape = as_tensor_variable(shape)
        if v_shape.ndim != 1:
            raise TypeError(f"shape must be a vector or list of scalar, got {v_shape}")
        if ndim is None:
            ndim = v_shape.type.shape[0]
            if ndim is None:
                raise ValueError(f"the length of shape {shape} is unknown; pass ndim")
        static_shape = (None,) * ndim
    if v_shape.dtype[0] not in "iu":
        raise TypeError(f"shape must be an integer vector or list, got dtype {v_shape.dtype}")
    if args_ndim > ndim:
        raise ValueError(f"ndim should be at least as big as required by args value: "
                         f"ndim={ndim}, args need {args_ndim}")
    return ndim, cast(v_shape, "int64"), static_shape


class RandomStreams:
    """Random streams with an interface like ``numpy.random.RandomState``.

    Parameters
    ----------
    seed : None or int
        Seeds the master generator that seeds every new draw's RandomState (Theano's scheme:
        ``RandomState(master.randint(2**30))``).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.state_updates: list[tuple[RandomStateSharedVariable, Variable]] = []
        self.default_instance_seed = seed
        self.gen_seedgen = np.random.RandomState(seed)

    def updates(self) -> list[tuple]:
        """(RandomState shared variable, its new state) of every draw made so far."""
        return list(self.state_updates)

    def seed(self, seed: int | None = None) -> None:
        """Re-seed every draw's RandomState from ``seed`` (default: the constructor's)."""
        if seed is None:
            seed = self.default_instance_seed
        seedgen = np.random.RandomState(seed)
        for old_r, _ in self.state_updates:
            old_r.set_value(np.random.RandomState(int(seedgen.randint(2 ** 30))), borrow=True)

    def __getitem__(self, item: RandomStateSharedVariable) -> np.random.RandomState:
        return item.get_value(borrow=True)

    def __setitem__(self, item: RandomStateSharedVariable, val: np.random.RandomState) -> None:
        item.set_value(val, borrow=True)

    def gen(self, method: str, size: Any, args: list[Any], ndim: int | None, dtype: str,
            ndim_added: int = 0, added_shape: tuple = ()) -> RandomVariable:
        """A new draw of ``method`` with its own RandomState seeded by the master generator."""
        seed = int(self.gen_seedgen.randint(2 ** 30))
        rng = randomstate_shared(np.random.RandomState(seed), borrow=True)
        args = [as_tensor_variable(a) for a in args]
        # Theano infers the shape from the arguments except for these three
        bcast_args = args if method not in ("choice", "permutation", "poisson") else []
        if method == "multinomial":
            bcast_args = [args[0], args[1][..., 0]]
        if method == "permutation" and (size is None or isinstance(size, tuple) and not size):
            if ndim not in (None, 1):
                raise TypeError("You asked for just one permutation but asked for more then 1 "
                                "dimensions.")
            ndim, v_size, static = 0, as_tensor_variable(np.zeros(0, np.int64)), ()
        else:
            ndim, v_size, static = _infer_ndim_shape(ndim, size, *bcast_args)
        shape = tuple(static) + tuple(added_shape)
        node = rs_draw.make_node([rng, v_size] + args, dict(
            method=method, dtype=dtype, ndim=ndim + ndim_added, shape=shape))
        out = RandomVariable(node.out.type, node)
        node.out = out
        new_r = rs_state(rng, v_size, *args, method=method)
        out.rng, out.update = rng, (rng, new_r)
        self.state_updates.append(out.update)
        rng.default_update = new_r
        return out

    def uniform(self, size: Any = None, low: Any = 0.0, high: Any = 1.0,
                ndim: int | None = None, dtype: str | None = None) -> RandomVariable:
        """Uniform draws in [low, high); dtype at least floatX."""
        low, high = as_tensor_variable(low), as_tensor_variable(high)
        dtype = dtype or upcast(config.floatX, low.dtype, high.dtype)
        return self.gen("uniform", size, [low, high], ndim, dtype)

    def normal(self, size: Any = None, avg: Any = 0.0, std: Any = 1.0,
               ndim: int | None = None, dtype: str | None = None) -> RandomVariable:
        """Normal draws with mean ``avg`` and standard deviation ``std``."""
        avg, std = as_tensor_variable(avg), as_tensor_variable(std)
        dtype = dtype or upcast(config.floatX, avg.dtype, std.dtype)
        return self.gen("normal", size, [avg, std], ndim, dtype)

    def binomial(self, size: Any = None, n: Any = 1, p: Any = 0.5, ndim: int | None = None,
                 dtype: str = "int64", prob: Any = None) -> RandomVariable:
        """Successes in ``n`` trials of probability ``p``."""
        p = prob if prob is not None else p
        return self.gen("binomial", size, [n, p], ndim, dtype)

    def poisson(self, size: Any = None, lam: Any = None, ndim: int | None = None,
                dtype: str = "int64") -> RandomVariable:
        """Poisson counts with expectation ``lam``; ``size`` or ``ndim`` must be given."""
        if lam is None:
            raise TypeError("poisson: give lam")
        return self.gen("poisson", size, [lam], ndim, dtype)

    def random_integers(self, size: Any = None, low: Any = 0, high: Any = 1,
                        ndim: int | None = None, dtype: str = "int64") -> RandomVariable:
        """Integers between low and high, both inclusive."""
        return self.gen("random_integers", size, [low, high], ndim, dtype)

    def choice(self, size: Any = None, a: Any = 2, replace: Any = True, p: Any = None,
               ndim: int | None = None, dtype: str = "int64") -> RandomVariable:
        """Values of ``a`` (or of range(a)) with or without replacement, probabilities ``p``."""
        if isinstance(replace, bool):
            replace = as_tensor_variable(np.int8(replace))
        p = as_tensor_variable(np.asarray(p if p is not None else [], dtype="float64")
                               if not isinstance(p, Variable) else p)
        return self.gen("choice", size, [a, replace, p], ndim, dtype)

    def permutation(self, size: Any = None, n: Any = 1, ndim: int | None = None,
                    dtype: str = "int64") -> RandomVariable:
        """Permutations of range(n), one per element of ``size`` (output: size + (n,))."""
        n_var = as_tensor_variable(n)
        last = int(n_var.data) if isinstance(n_var, Constant) else None
        return self.gen("permutation", size, [n_var], ndim, dtype, 1, (last,))

    def multinomial(self, size: Any = None, n: Any = 1, pvals: Any = (0.5, 0.5),
                    ndim: int | None = None, dtype: str = "int64") -> RandomVariable:
        """Counts of ``n`` draws from each distribution in ``pvals`` (output: size + (L,))."""
        pvals = as_tensor_variable(list(pvals) if isinstance(pvals, tuple) else pvals)
        return self.gen("multinomial", size, [n, pvals], ndim, dtype, 1,
                        (pvals.type.shape[-1],))

    def shuffle_row_elements(self, input: Any) -> RandomVariable:
        """``input`` with every row (last axis) shuffled by a fresh permutation (its
        ``.permutation``)."""
        input = as_tensor_variable(input)
        perm = self.permutation(size=input.shape[:-1], n=input.shape[-1],
                                ndim=input.ndim - 1)
        node = permute_row_elements_op.make_node([input, perm], {"inverse": False})
        shuffled = node.out = RandomVariable(node.out.type, node)
        shuffled.permutation, shuffled.rng, shuffled.update = perm, perm.rng, perm.update
        return shuffled
