"""Elementwise ops: dtype rules, broadcasting, one record per scalar function with its gradient."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from symconv.graph import (Op, TensorType, Variable, as_tensor_variable, constant, is_literal,
                           DISCRETE_DTYPES)

_KIND = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def upcast(*dtypes: str) -> str:
    """NumPy's promotion of dtypes (values play no part)."""
    return np.result_type(*[np.dtype(d) for d in dtypes]).name


def upgrade_to_float(dtype: str) -> str:
    """Theano's float for a discrete dtype (small ints -> float32, wide ints -> float64)."""
    if dtype in ("bool", "int8", "uint8", "int16", "uint16"):
        return "float32"
    if dtype in ("int32", "uint32", "int64", "uint64"):
        return "float64"
    return dtype


@dataclass(frozen=True)
class Scalar:
    """How an elementwise op computes one element: for fusion and code generation."""

    nin: int
    c: str              # CUDA C expression over {0}, {1}, ... (operands already of the out dtype)
    dtype_rule: str     # upcast | float | bool | cond (switch: upcast of inputs 1..)


def _weak_dtype(value: Any, strong: list[str]) -> str:
    """dtype a Python literal takes beside tensors of dtypes ``strong`` (NumPy 2's weak scalars)."""
    from symconv.graph import autocast_dtype
    own = autocast_dtype(value)
    if not strong:
        return own
    target = upcast(*strong)
    if _KIND[np.dtype(own).kind] > _KIND[np.dtype(target).kind]:
        return own
    if np.dtype(target).kind in "iu" and isinstance(value, int):
        info = np.iinfo(target)
        if not info.min <= value <= info.max:
            return own
    return target


def _prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    """Literals -> constants of the right dtype; inputs padded on the left to a common ndim."""
    strong = [as_tensor_variable(x) for x in inputs if not is_literal(x)]
    strong_dtypes = [v.dtype for v in strong]
    vars_ = [constant(x, dtype=_weak_dtype(x, strong_dtypes)) if is_literal(x)
             else as_tensor_variable(x) for x in inputs]
    ndim = max(v.ndim for v in vars_)
    if any(v.ndim < ndim for v in vars_):
        from symconv.ops.shape import dimshuffle
        vars_ = [v if v.ndim == ndim else
                 dimshuffle(v, pattern=("x",) * (ndim - v.ndim) + tuple(range(v.ndim)))
                 for v in vars_]
    return vars_, params


def broadcast_shape(name: str, types: list[TensorType]) -> tuple[int | None, ...]:
    """Static output shape of an elementwise op; a certain mismatch is a build-time error."""
    shape = []
    for axis in range(types[0].ndim):
        sizes = {t.shape[axis] for t in types} - {1}
        known = sizes - {None}
        if len(known) > 1:
            shapes = " and ".join(str(tuple("?" if s is None else s for s in t.shape))
                                  for t in types)
            raise ValueError(f"{name}: shapes {shapes} cannot be broadcast together "
                             f"(axis {axis} has sizes {sorted(known)})")
        if known:
            shape.append(known.pop())
        elif None in sizes:
            shape.append(None)
        else:
            shape.append(1)
    return tuple(shape)


def out_dtype(rule: str, dtypes: list[str], cast_to: str | None = None) -> str:
    if rule == "upcast":
        return upcast(*dtypes)
    if rule == "upcast_min8":   # Theano's upcast_out_min8: bools become int8 (as NumPy's pow)
        result = upcast(*dtypes)
        return "int8" if result == "bool" else result
    if rule == "float":
        return upgrade_to_float(upcast(*dtypes))
    if rule == "bool":
        return "bool"
    if rule == "cond":
        return upcast(*dtypes[1:])
    if rule == "cast":
        return cast_to
    raise ValueError(rule)


_REFUSALS = {
    # Theano refuses these at graph build; NumPy would fail later with a raw ufunc error
    "no_bool": (lambda d: d == "bool", "bool inputs are not supported (Theano refuses them "
                "too); cast first, e.g. T.cast(x, 'int8')"),
    "integral": (lambda d: d[0] not in "biu", "needs integer or bool inputs (a bitwise op); "
                 "got {dtype}"),
}


def _infer_for(name: str, rule: str, refuse: str | None) -> Callable:
    def infer(*types: TensorType, **params: Any) -> TensorType:
        dtypes = [t.dtype for t in types]
        if refuse is not None:
            bad, message = _REFUSALS[refuse]
            for t in types:
                if bad(t.dtype):
                    from symconv.graph import user_source_line
                    raise TypeError(f"{name}: {message.format(dtype=t.dtype)} (input types "
                                    f"{', '.join(dtypes)}; at {user_source_line()})")
        dtype = out_dtype(rule, dtypes, params.get("dtype"))
        return TensorType(dtype, broadcast_shape(name, list(types)))
    return infer


def _float_inputs(kernel: Callable) -> Callable:
    """``kernel`` run on its inputs converted to the op's float dtype first: a discrete input
    would otherwise be computed in NumPy's float (float16 for int8) or wrap (``-uint8``)."""
    def kernel_on_floats(xp: Any, *arrays: Any, **params: Any) -> Any:
        dtypes = [np.dtype(a.dtype).name for a in arrays]
        want = upgrade_to_float(upcast(*dtypes))
        return kernel(xp, *[a if d == want else a.astype(want) for a, d in zip(arrays, dtypes)],
                      **params)
    return kernel_on_floats


def _ufunc_kernel(ufunc_name: str) -> Callable:
    def kernel(xp: Any, *arrays: Any, **params: Any) -> Any:
        return getattr(xp, ufunc_name)(*arrays)
    kernel.ufunc = ufunc_name  # backends bind the ufunc itself, skipping this wrapper
    return kernel


def elemwise_op(name: str, nin: int, c: str, rule: str, grad: Callable | None,
                kernel: Callable | str | None = None, doc: str | None = None,
                refuse: str | None = None) -> Op:
    """Define one elementwise op (its scalar form, dtype rule, kernel and gradient together).

    ``refuse``: 'no_bool' or 'integral', input dtypes rejected at graph build (as Theano)."""
    if kernel is None or isinstance(kernel, str):
        kernel = _ufunc_kernel(kernel or name)
    elif rule == "float":
        kernel = _float_inputs(kernel)
    return Op(name, _infer_for(name, rule, refuse), kernel, grad,
              prepare=_arity_checked(name, nin),
              elemwise=Scalar(nin, c, rule), doc=doc)


def _arity_checked(name: str, nin: int) -> Callable:
    def prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
        if len(inputs) != nin:
            raise TypeError(f"{name}: takes {nin} inputs, got {len(inputs)}")
        return _prepare(inputs, params)
    return prepare


# Gradient rules: g is the output gradient, out the op's result; one line per op.
add = elemwise_op("add", 2, "({0} + {1})", "upcast", lambda g, out, a, b: [g, g])
sub = elemwise_op("sub", 2, "({0} - {1})", "upcast", lambda g, out, a, b: [g, -g],
                  kernel="subtract", refuse="no_bool")
mul = elemwise_op("mul", 2, "({0} * {1})", "upcast",
                  lambda g, out, a, b: [g * b, g * a], kernel="multiply")
true_div = elemwise_op("true_div", 2, "({0} / {1})", "float",
                       lambda g, out, a, b: [g / b, -g * out / b], kernel="true_divide")
int_div = elemwise_op("int_div", 2, "floor_div({0}, {1})", "upcast",
                      lambda g, out, a, b: [None, None], kernel="floor_divide")
mod = elemwise_op("mod", 2, "py_mod({0}, {1})", "upcast",
                  lambda g, out, a, b: [g, -g * int_div(a, b)], kernel="mod")
pow = elemwise_op("pow", 2, "pow({0}, {1})", "upcast_min8",
                  lambda g, out, a, b: [g * b * a ** (b - 1), g * out * log(a)], kernel="power")
# at a tie the whole gradient goes to the first argument, as in Theano
maximum = elemwise_op("maximum", 2, "max({0}, {1})", "upcast",
                      lambda g, out, a, b: [g * eq(out, a), g * neq(out, a)])
minimum = elemwise_op("minimum", 2, "min({0}, {1})", "upcast",
                      lambda g, out, a, b: [g * eq(out, a), g * neq(out, a)])

eq = elemwise_op("eq", 2, "({0} == {1})", "bool", None, kernel="equal")
neq = elemwise_op("neq", 2, "({0} != {1})", "bool", None, kernel="not_equal")
lt = elemwise_op("lt", 2, "({0} < {1})", "bool", None, kernel="less")
le = elemwise_op("le", 2, "({0} <= {1})", "bool", None, kernel="less_equal")
gt = elemwise_op("gt", 2, "({0} > {1})", "bool", None, kernel="greater")
ge = elemwise_op("ge", 2, "({0} >= {1})", "bool", None, kernel="greater_equal")
and_ = elemwise_op("and_", 2, "({0} & {1})", "upcast", None, kernel="bitwise_and",
                   refuse="integral")
or_ = elemwise_op("or_", 2, "({0} | {1})", "upcast", None, kernel="bitwise_or",
                  refuse="integral")
xor = elemwise_op("xor", 2, "({0} ^ {1})", "upcast", None, kernel="bitwise_xor",
                  refuse="integral")
invert = elemwise_op("invert", 1, "invert({0})", "upcast", None, refuse="integral")

neg = elemwise_op("neg", 1, "(-{0})", "upcast", lambda g, out, x: [-g], kernel="negative",
                  refuse="no_bool")
abs = elemwise_op("abs", 1, "abs({0})", "upcast", lambda g, out, x: [g * sgn(x)],
                  kernel="absolute")
sgn = elemwise_op("sgn", 1, "sgn({0})", "upcast", lambda g, out, x: [None], kernel="sign",
                  refuse="no_bool")
floor = elemwise_op("floor", 1, "floor({0})", "float", lambda g, out, x: [None])
ceil = elemwise_op("ceil", 1, "ceil({0})", "float", lambda g, out, x: [None])
round_half_to_even = elemwise_op("round_half_to_even", 1, "rint({0})", "float",
                                 lambda g, out, x: [None], kernel="rint")
exp = elemwise_op("exp", 1, "exp({0})", "float", lambda g, out, x: [g * out])
expm1 = elemwise_op("expm1", 1, "expm1({0})", "float", lambda g, out, x: [g * (out + 1)])
log = elemwise_op("log", 1, "log({0})", "float", lambda g, out, x: [g / x])
log1p = elemwise_op("log1p", 1, "log1p({0})", "float", lambda g, out, x: [g / (1 + x)])
log2 = elemwise_op("log2", 1, "log2({0})", "float",
                   lambda g, out, x: [g / (x * float(np.log(2.0)))])
log10 = elemwise_op("log10", 1, "log10({0})", "float",
                    lambda g, out, x: [g / (x * float(np.log(10.0)))])
sqrt = elemwise_op("sqrt", 1, "sqrt({0})", "float", lambda g, out, x: [g * 0.5 / out])
sqr = elemwise_op("sqr", 1, "({0} * {0})", "upcast", lambda g, out, x: [g * 2 * x],
                  kernel="square")
inv = elemwise_op("inv", 1, "(1 / {0})", "float", lambda g, out, x: [-g * out * out],
                  kernel="reciprocal")
sin = elemwise_op("sin", 1, "sin({0})", "float", lambda g, out, x: [g * cos(x)])
cos = elemwise_op("cos", 1, "cos({0})", "float", lambda g, out, x: [-g * sin(x)])
tanh = elemwise_op("tanh", 1, "tanh({0})", "float", lambda g, out, x: [g * (1 - out * out)])


def _sigmoid_kernel(xp: Any, x: Any) -> Any:
    # exp(-log(1 + exp(-x))): exact in both tails, unlike 1 / (1 + exp(-x)) in float32
    return xp.exp(-xp.logaddexp(0, -x)).astype(x.dtype, copy=False) if x.dtype.kind == "f" \
        else xp.exp(-xp.logaddexp(0, -x))


sigmoid = elemwise_op("sigmoid", 1, "sigmoid({0})", "float",
                      lambda g, out, x: [g * out * (1 - out)], kernel=_sigmoid_kernel)


def _softplus_kernel(xp: Any, x: Any) -> Any:
    return xp.logaddexp(0, x)


softplus = elemwise_op("softplus", 1, "softplus({0})", "float",
                       lambda g, out, x: [g * sigmoid(x)], kernel=_softplus_kernel)


def _switch_kernel(xp: Any, cond: Any, a: Any, b: Any) -> Any:
    return xp.where(cond, a, b)


switch = elemwise_op("switch", 3, "({0} ? {1} : {2})", "cond",
                     lambda g, out, c, a, b: [None, switch(c, g, 0), switch(c, 0, g)],
                     kernel=_switch_kernel)


def _clip_kernel(xp: Any, x: Any, lo: Any, hi: Any) -> Any:
    # Theano's order of tests: below lo gives lo, else above hi gives hi (also when lo > hi,
    # where NumPy's clip gives hi everywhere); the gradient rule below follows the same tests
    out = xp.where(x > hi, hi, x)
    return xp.where(x < lo, lo, out).astype(xp.result_type(x, lo, hi), copy=False)


clip = elemwise_op("clip", 3, "({0} < {1} ? {1} : ({0} > {2} ? {2} : {0}))", "upcast",
                   lambda g, out, x, lo, hi: [g * (ge(x, lo) & le(x, hi)), g * lt(x, lo),
                                              g * gt(x, hi)],
                   kernel=_clip_kernel)


def _cast_kernel(xp: Any, x: Any, dtype: str) -> Any:
    return x.astype(dtype)


def _cast_infer(t: TensorType, dtype: str) -> TensorType:
    return TensorType(dtype, t.shape)


def _cast_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    from symconv.graph import DTYPES
    dtype = params["dtype"]
    if dtype == "floatX":
        from symconv.config import config
        dtype = config.floatX
    dtype = np.dtype(dtype).name
    if dtype not in DTYPES:
        raise TypeError(f"cast: unsupported dtype {dtype!r}")
    return [as_tensor_variable(inputs[0])], {"dtype": dtype}


cast_op = Op("cast", _cast_infer, _cast_kernel,
             # an int input gets the float gradient as it is (Theano's rule)
             lambda g, out, x, dtype: [g if x.dtype in DISCRETE_DTYPES else cast(g, x.dtype)],
             prepare=_cast_prepare, elemwise=Scalar(1, "(({dtype}){0})", "cast"))


def cast(x: Any, dtype: str) -> Variable:
    """``x`` converted to ``dtype`` (no node when it already has it)."""
    x = as_tensor_variable(x)
    if dtype == "floatX":
        from symconv.config import config
        dtype = config.floatX
    try:
        dtype = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"cast: unsupported dtype {dtype!r}") from None
    if x.dtype == dtype:
        return x
    return cast_op(x, dtype=dtype)
