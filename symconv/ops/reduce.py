"""Reductions over axes: sum, prod, max, min, argmax, argmin, any, all."""
from __future__ import annotations

from typing import Any

from symconv.graph import Op, TensorType, Variable, as_tensor_variable
from symconv.ops.elemwise import eq, mul
from symconv.ops.shape import broadcast_to, dimshuffle, shape_of


def normalize_axis(axis: Any, ndim: int, name: str) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, Variable):
        from symconv.graph import Constant
        if not isinstance(axis, Constant):
            raise TypeError(f"{name}: axis must be known when the graph is built, got {axis}")
        axis = axis.data.tolist()
    axes = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in axes:
        if not -ndim <= int(a) < max(ndim, 1):
            raise ValueError(f"{name}: axis {a} is out of range for a {ndim}-d input")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axis}")
    return tuple(sorted(out))


def _prepare_for(name: str):
    def prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
        x = as_tensor_variable(inputs[0])
        params = dict(params)
        params["axis"] = normalize_axis(params.get("axis"), x.ndim, name)
        params["keepdims"] = bool(params.get("keepdims", False))
        if name in ("sum", "prod"):
            params["dtype"] = params.get("dtype")
            if params["dtype"] == "floatX":
                from symconv.config import config
                params["dtype"] = config.floatX
        return [x], params
    return prepare


def _reduced_shape(t: TensorType, axis: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if a in axis else s for a, s in enumerate(t.shape))
    return tuple(s for a, s in enumerate(t.shape) if a not in axis)


def _expand(g: Variable, x: Variable, axis: tuple, keepdims: bool) -> Variable:
    """``g`` (reduced over ``axis``) with size-1 axes put back where they were reduced."""
    if keepdims:
        return g
    pattern, it = [], iter(range(g.ndim))
    for a in range(x.ndim):
        pattern.append("x" if a in axis else next(it))
    return dimshuffle(g, pattern=tuple(pattern))


def sum_dtype(dtype: str) -> str:
    """Theano's result dtype of a sum: ints widen to 64 bits, bool counts as int64."""
    if dtype == "bool" or dtype.startswith("int"):
        return "int64"
    if dtype.startswith("uint"):
        return "uint64"
    return dtype


def _sum_infer(t: TensorType, axis: tuple, keepdims: bool, dtype: str | None = None
               ) -> TensorType:
    return TensorType(dtype or sum_dtype(t.dtype), _reduced_shape(t, axis, keepdims))


def _sum_kernel(xp: Any, x: Any, axis: tuple, keepdims: bool, dtype: str | None = None) -> Any:
    return xp.sum(x, axis=axis, keepdims=keepdims, dtype=dtype or sum_dtype(x.dtype.name))


def _sum_grad(g: Variable, out: Variable, x: Variable, axis: tuple, keepdims: bool,
              dtype: str | None = None) -> list:
    return [broadcast_to(_expand(g, x, axis, keepdims), *shape_of(x))]


reduce_sum = Op("sum", _sum_infer, _sum_kernel, _sum_grad, prepare=_prepare_for("sum"))


def _prod_kernel(xp: Any, x: Any, axis: tuple, keepdims: bool, dtype: str | None = None) -> Any:
    return xp.prod(x, axis=axis, keepdims=keepdims, dtype=dtype or sum_dtype(x.dtype.name))


def _prod_grad(g: Variable, out: Variable, x: Variable, axis: tuple, keepdims: bool,
               dtype: str | None = None) -> list:
    # d prod / d x_i = product of the other elements of its group (Theano's rule with zeros):
    # no zero in the group: prod / x_i; one zero: the product of the non-zeros at the zero,
    # 0 elsewhere; two or more zeros: 0 everywhere
    from symconv.ops.elemwise import switch
    is_zero = eq(x, 0)
    n_zeros = _expand(reduce_sum(is_zero, axis=axis, keepdims=keepdims), x, axis, keepdims)
    safe = switch(is_zero, 1, x)
    prod_nonzero = _expand(reduce_prod(safe, axis=axis, keepdims=keepdims, dtype=out.dtype),
                           x, axis, keepdims)
    others = switch(is_zero, switch(eq(n_zeros, 1), prod_nonzero, 0),
                    switch(eq(n_zeros, 0), prod_nonzero / safe, 0))
    return [mul(_expand(g, x, axis, keepdims), others)]


reduce_prod = Op("prod", _sum_infer, _prod_kernel, _prod_grad, prepare=_prepare_for("prod"))


def _same_infer(t: TensorType, axis: tuple, keepdims: bool) -> TensorType:
    if t.ndim and any(t.shape[a] == 0 for a in axis):
        raise ValueError(f"max/min of an empty axis of {t}")
    return TensorType(t.dtype, _reduced_shape(t, axis, keepdims))


def _max_kernel(xp: Any, x: Any, axis: tuple, keepdims: bool) -> Any:
    return xp.max(x, axis=axis, keepdims=keepdims)


def _min_kernel(xp: Any, x: Any, axis: tuple, keepdims: bool) -> Any:
    return xp.min(x, axis=axis, keepdims=keepdims)


def _extremum_grad(g: Variable, out: Variable, x: Variable, axis: tuple, keepdims: bool) -> list:
    # every element equal to the extremum gets the gradient (Theano's rule for ties)
    return [_expand(g, x, axis, keepdims) * eq(x, _expand(out, x, axis, keepdims))]


reduce_max = Op("max", _same_infer, _max_kernel, _extremum_grad, prepare=_prepare_for("max"))
reduce_min = Op("min", _same_infer, _min_kernel, _extremum_grad, prepare=_prepare_for("min"))


def _arg_infer(t: TensorType, axis: tuple, keepdims: bool) -> TensorType:
    return TensorType("int64", _reduced_shape(t, axis, keepdims))


def _argreduce(fn_name: str):
    def kernel(xp: Any, x: Any, axis: tuple, keepdims: bool) -> Any:
        fn = getattr(xp, fn_name)
        if len(axis) == 1:
            return fn(x, axis=axis[0], keepdims=keepdims)
        # several axes: move them to the end and flatten them (Theano's semantics)
        kept = [a for a in range(x.ndim) if a not in axis]
        moved = x.transpose(kept + list(axis)).reshape([x.shape[a] for a in kept] + [-1])
        res = fn(moved, axis=-1)
        if keepdims:
            res = res.reshape([1 if a in axis else x.shape[a] for a in range(x.ndim)])
        return res.astype("int64", copy=False)
    return kernel


reduce_argmax = Op("argmax", _arg_infer, _argreduce("argmax"), lambda g, out, x, **p: [None],
                   prepare=_prepare_for("argmax"))
reduce_argmin = Op("argmin", _arg_infer, _argreduce("argmin"), lambda g, out, x, **p: [None],
                   prepare=_prepare_for("argmin"))


def _bool_infer(t: TensorType, axis: tuple, keepdims: bool) -> TensorType:
    return TensorType("bool", _reduced_shape(t, axis, keepdims))


def _any_kernel(xp: Any, x: Any, axis: tuple, keepdims: bool) -> Any:
    return xp.any(x, axis=axis, keepdims=keepdims)


def _all_kernel(xp: Any, x: Any, axis: tuple, keepdims: bool) -> Any:
    return xp.all(x, axis=axis, keepdims=keepdims)


reduce_any = Op("any", _bool_infer, _any_kernel, lambda g, out, x, **p: [None],
                prepare=_prepare_for("any"))
reduce_all = Op("all", _bool_infer, _all_kernel, lambda g, out, x, **p: [None],
                prepare=_prepare_for("all"))
