"""Canonicalize: constant folding, algebraic identities and shape facts."""
from __future__ import annotations

import weakref

import numpy as np

from symconv.graph import Constant, Node, TensorType, Variable
from symconv.rewrite import register

FOLD_LIMIT = 1 << 16   # elements: larger results stay computations (no giant constants)


@register("canonicalize", fast_compile=True)
def constant_folding(node: Node) -> Variable | None:
    # op(c1, c2, ...) -> c   when every input is a constant and the result is small
    if not node.inputs or not all(isinstance(i, Constant) for i in node.inputs):
        return None
    if node.op.nondeterministic:   # a random draw stays a draw
        return None
    if node.op.name.startswith("allreduce"):   # a collective: it runs on every rank, at run time
        return None
    if not getattr(node.op, "foldable", True):   # e.g. scan: its value is not an array
        return None
    if node.op.sized_by_values and None in node.out.type.shape:
        return None
    # the op's own kernel against NumPy: rewrites sit below the backends
    value = np.asarray(node.op.kernel(np, *[i.data for i in node.inputs], **node.kw))
    if value.size > FOLD_LIMIT:
        return None
    value = np.array(value, dtype=node.out.type.dtype)
    return Constant(TensorType(value.dtype, value.shape), value)


def _scalar_const(var: Variable, value: float) -> bool:
    return isinstance(var, Constant) and all(s == 1 for s in var.type.shape) and \
        bool(np.all(var.data == value))


def _same(var: Variable, out: Variable) -> Variable | None:
    """``var`` if it can stand for ``out`` (same dtype and shape), else None."""
    if var.type.dtype == out.type.dtype and var.type.shape == out.type.shape:
        return var
    return None


@register("canonicalize", ops=["mul"])
def mul_by_one(node: Node) -> Variable | None:
    # x * 1 -> x, 1 * x -> x
    a, b = node.inputs
    if _scalar_const(b, 1):
        return _same(a, node.out)
    if _scalar_const(a, 1):
        return _same(b, node.out)
    return None


@register("canonicalize", ops=["mul"])
def mul_by_zero(node: Node) -> Variable | None:
    # 0 * x -> zeros of the result's shape  (as Theano's local_mul_zero: a NaN or Inf in x is
    # not propagated; an L1 term weighted 0.0 then costs nothing, not sign() over W)
    from symconv.ops.shape import broadcast_to, shape_of
    a, b = node.inputs
    if not (_scalar_const(a, 0) or _scalar_const(b, 0)):
        return None
    out = node.out
    zero = Constant(TensorType(out.dtype, (1,) * out.ndim), np.zeros((1,) * out.ndim, out.dtype))
    if out.ndim == 0:
        return zero
    return broadcast_to(zero, *shape_of(out))


@register("canonicalize", ops=["add", "sub"])
def add_zero(node: Node) -> Variable | None:
    # x + 0 -> x, 0 + x -> x, x - 0 -> x
    a, b = node.inputs
    if _scalar_const(b, 0):
        return _same(a, node.out)
    if node.op.name == "add" and _scalar_const(a, 0):
        return _same(b, node.out)
    return None


@register("canonicalize", ops=["neg"])
def double_negation(node: Node) -> Variable | None:
    # --x -> x
    inner = node.inputs[0].owner
    if inner is not None and inner.op.name == "neg":
        return _same(inner.inputs[0], node.out)
    return None


@register("canonicalize", ops=["dimshuffle"], fast_compile=True)
def dimshuffle_identity_and_composition(node: Node) -> Variable | None:
    # dimshuffle(x, 0..n-1) -> x;  dimshuffle(dimshuffle(x, p), q) -> dimshuffle(x, p∘q)
    from symconv.ops.shape import dimshuffle
    pattern = node.kw["pattern"]
    x = node.inputs[0]
    if pattern == tuple(range(x.ndim)):
        return x
    inner = x.owner
    if inner is not None and inner.op.name == "dimshuffle":
        inner_pattern = inner.kw["pattern"]
        composed = tuple("x" if p == "x" else inner_pattern[p] for p in pattern)
        base = inner.inputs[0]
        if composed == tuple(range(base.ndim)):
            return _same(base, node.out)
        return dimshuffle(base, pattern=composed)
    return None


@register("canonicalize", ops=["reshape", "flatten", "rebroadcast"])
def reshape_identity(node: Node) -> Variable | None:
    # reshape(x, x's own static shape) -> x
    x = node.inputs[0]
    if None not in x.type.shape and len(node.inputs) == 1:
        return _same(x, node.out)
    return None


@register("canonicalize", ops=["shape"], fast_compile=True)
def static_shape(node: Node) -> Variable | None:
    # shape(x) -> constant, when x's static shape is fully known
    shape = node.inputs[0].type.shape
    if None in shape:
        return None
    data = np.array(shape, dtype="int64")
    return Constant(TensorType("int64", data.shape), data)


@register("canonicalize", ops=["subtensor"], fast_compile=True)
def static_shape_entry(node: Node) -> Variable | None:
    # x.shape[i] -> constant, when axis i of x has a static size
    source = node.inputs[0].owner
    spec = node.kw["spec"]
    if source is None or source.op.name != "shape" or len(spec) != 1 or spec[0][0] != "int" \
            or not isinstance(spec[0][1], int):
        return None
    size = source.inputs[0].type.shape[spec[0][1]]
    if size is None:
        return None
    data = np.array(size, dtype="int64")
    return Constant(TensorType("int64", ()), data)


@register("canonicalize", ops=["subtensor"])
def full_slice(node: Node) -> Variable | None:
    # x[:, :] -> x  (a view of all of x; Theano's local_useless_subtensor)
    spec = node.kw["spec"]
    if len(node.inputs) == 1 and all(e == ("slice", None, None, None) for e in spec):
        return _same(node.inputs[0], node.out)
    return None


@register("canonicalize", ops=["cast"])
def cast_to_same_dtype(node: Node) -> Variable | None:
    # cast(x, x.dtype) -> x
    x = node.inputs[0]
    return _same(x, node.out) if node.kw["dtype"] == x.dtype else None


@register("canonicalize")
def elemwise_of_broadcast(node: Node) -> Variable | None:
    # e(broadcast_to(x, shape), y) -> e(x, y)  and likewise for alloc, when the other inputs
    # fix every non-broadcastable axis of the result: the elementwise op broadcasts x itself,
    # so no full-size operand is built (T.grad's gradient of a sum is such a broadcast)
    if node.op.elemwise is None:
        return None
    from symconv.graph import apply
    from symconv.ops.shape import assert_sizes, dimshuffle
    out = node.out
    for pos, inp in enumerate(node.inputs):
        source = inp.owner
        if source is None or source.op.name not in ("broadcast_to", "alloc"):
            continue
        x = source.inputs[0]
        others = [k for k, i in enumerate(node.inputs) if k != pos and i.ndim == out.ndim]
        if x.ndim > out.ndim or x.dtype != inp.dtype or inp.ndim != out.ndim:
            continue
        # every axis the broadcast sizes must get its size from another input; where that
        # input's size is not provably the same, its size is checked instead (assert_sizes):
        # dropping the broadcast must not drop the check (alloc(1., n) + y with len(y) != n)
        checks: dict[int, list[int]] = {}
        for a in range(out.ndim):
            if inp.type.broadcastable[a]:
                continue
            sizing = [k for k in others if not node.inputs[k].type.broadcastable[a]]
            if not sizing:
                break
            if not any(provably_equal(dim_keys(node.inputs[k], a), dim_keys(inp, a))
                       for k in sizing):
                checks.setdefault(sizing[0], []).append(a)
        else:
            sizing = None
        if sizing is not None and not sizing:
            continue
        if x.ndim < out.ndim:
            x = dimshuffle(x, pattern=("x",) * (out.ndim - x.ndim) + tuple(range(x.ndim)))
        inputs = list(node.inputs)
        inputs[pos] = x
        for k, axes in checks.items():
            inputs[k] = assert_sizes(inputs[k], *[source.inputs[1 + a] for a in axes],
                                     axes=tuple(axes))
        result = apply(node.op, inputs, node.params)
        if result.dtype == out.dtype and result.type.broadcastable == out.type.broadcastable:
            return result
    return None


@register("canonicalize")
def lift_broadcast_over_scalars(node: Node) -> Variable | None:
    # e(broadcast_to(x, shape), c) -> broadcast_to(e(x, c), shape)  when every other input is
    # broadcastable on all axes: the op then runs on x's size, and elemwise_of_broadcast can
    # drop the broadcast at the next elementwise consumer (2 * ones(W.shape) * W -> 2 * W)
    if node.op.elemwise is None:
        return None
    from symconv.graph import apply
    from symconv.ops.shape import broadcast_to
    broadcasts = [k for k, i in enumerate(node.inputs)
                  if i.owner is not None and i.owner.op.name == "broadcast_to"]
    if len(broadcasts) != 1:
        return None
    pos = broadcasts[0]
    if not all(all(i.type.broadcastable) for k, i in enumerate(node.inputs) if k != pos):
        return None
    source = node.inputs[pos].owner
    if source.inputs[0].ndim != node.out.ndim:
        return None
    inputs = list(node.inputs)
    inputs[pos] = source.inputs[0]
    inner = apply(node.op, inputs, node.params)
    return broadcast_to(inner, *source.inputs[1:])


_DIM_KEYS: "weakref.WeakKeyDictionary[Variable, dict[int, frozenset]]" = \
    weakref.WeakKeyDictionary()


def size_keys(size: Variable) -> frozenset:
    """Keys of an integer scalar: two scalars sharing a key are provably equal at run time."""
    if isinstance(size, Constant):
        return frozenset([("static", int(size.data))])
    node = size.owner
    if node is not None and node.op.name == "same_size":
        return frozenset().union(*[size_keys(s) for s in node.inputs])
    if node is not None and node.op.name == "subtensor" and len(node.inputs) == 1:
        spec = node.kw["spec"]
        if len(spec) == 1 and spec[0][0] == "int" and isinstance(spec[0][1], int):
            return _entry_keys(node.inputs[0], spec[0][1])
    return frozenset([("var", id(size))])


def _entry_keys(vector: Variable, i: int) -> frozenset:
    """Keys of ``vector[i]`` for a shape vector (shape(x) or same_shape(...))."""
    source = vector.owner
    if source is not None and source.op.name == "shape":
        return dim_keys(source.inputs[0], i)
    if source is not None and source.op.name == "same_shape":
        keys = _entry_keys(source.inputs[0], i)
        if i % vector.type.shape[0] in source.kw["axes"]:
            keys = keys.union(*[_entry_keys(s, i) for s in source.inputs[1:]])
        return keys
    return frozenset([("var", id(vector), i)])


def dim_keys(var: Variable, axis: int) -> frozenset:
    """Keys of ``var``'s size on ``axis`` (see size_keys). Graphs are immutable, so the keys of
    a variable never change: they are cached on it."""
    axis %= var.ndim
    cache = _DIM_KEYS.setdefault(var, {})
    keys = cache.get(axis)
    if keys is None:
        size, node = var.type.shape[axis], var.owner
        if size is not None:
            keys = frozenset([("static", size)])
        elif node is not None and node.op.name in ("alloc", "broadcast_to"):
            keys = size_keys(node.inputs[1 + axis])
        elif node is not None and node.op.name == "assert_sizes":
            keys = dim_keys(node.inputs[0], axis).union(*[
                size_keys(size) for a, size in zip(node.kw["axes"], node.inputs[1:])
                if a == axis])
        else:
            found = _dim_source(var, axis)
            keys = frozenset([("var", id(var), axis)]) if found is None else dim_keys(*found)
        cache[axis] = keys
    return keys


def provably_equal(a: frozenset, b: frozenset) -> bool:
    return not a.isdisjoint(b)


def _sizing_inputs(var: Variable, axis: int) -> list[Variable]:
    """The inputs of an elementwise ``var``'s owner that give its size on ``axis``: all must
    have that size, but only the op's own broadcast check enforces it."""
    return [inp for inp in var.owner.inputs
            if inp.ndim == var.ndim and not inp.type.broadcastable[axis]]


def _dim_source(var: Variable, axis: int) -> tuple[Variable, int] | None:
    """(input, axis) of ``var``'s owner whose size is provably ``var``'s size on ``axis``.

    For an elementwise op an input qualifies only when it is the one input not broadcastable
    on that axis, or when all such inputs provably have the same size: otherwise the size
    must come with a check (see shape_entry_from_input)."""
    node = var.owner
    if node is None:
        return None
    axis %= var.ndim
    name = node.op.name
    if node.op.elemwise is not None:
        sizing = _sizing_inputs(var, axis)
        if not sizing or any(not provably_equal(dim_keys(sizing[0], axis), dim_keys(i, axis))
                             for i in sizing[1:]):
            return None
        return sizing[0], axis
    if node.op.shape_from is not None:
        return node.inputs[node.op.shape_from], axis
    if name == "dimshuffle":
        source = node.kw["pattern"][axis]
        return None if source == "x" else (node.inputs[0], source)
    if name == "dot":     # dot(a, b).shape == a.shape[:-1] + b.shape[1:]
        a, b = node.inputs
        return (a, axis) if axis < a.ndim - 1 else (b, axis - (a.ndim - 1) + 1)
    return None


@register("canonicalize", ops=["shape"])
def shape_from_input(node: Node) -> Variable | None:
    # shape(e(x, y)) -> shape(x)  when x has e's broadcast pattern (e elementwise);
    # shape(softmax(x)) -> shape(x): the result is not computed just for its shape
    from symconv.ops.shape import shape_op
    var = node.inputs[0]
    owner = var.owner
    if owner is None:
        return None
    if owner.op.shape_from is not None:
        return shape_op(owner.inputs[owner.op.shape_from])
    if owner.op.elemwise is not None:
        for inp in owner.inputs:
            if inp.type.broadcastable != var.type.broadcastable:
                continue
            # where another input's size is not provably inp's, keep that check:
            # shape(e(x, y)) -> same_shape(shape(x), shape(y), axes=the unproven axes)
            others, axes = [], set()
            for a in range(var.ndim):
                for other in _sizing_inputs(var, a):
                    if other is not inp and not provably_equal(dim_keys(other, a),
                                                               dim_keys(inp, a)):
                        axes.add(a)
                        if not any(other is o for o in others):
                            others.append(other)
            if not axes:
                return shape_op(inp)
            from symconv.ops.shape import same_shape
            return same_shape(shape_op(inp), *[shape_op(o) for o in others],
                              axes=tuple(sorted(axes)))
    return None


@register("canonicalize", ops=["subtensor"])
def shape_entry_from_input(node: Node) -> Variable | None:
    # shape(dot(a, b))[0] -> shape(a)[0];  shape(x.T)[1] -> shape(x)[0];  likewise per axis
    # through elementwise ops (see _dim_source)
    from symconv.ops.shape import shape_op
    source = node.inputs[0].owner
    spec = node.kw["spec"]
    if source is None or source.op.name not in ("shape", "same_shape") or len(spec) != 1 \
            or spec[0][0] != "int" or not isinstance(spec[0][1], int):
        return None
    if source.op.name == "same_shape":
        # same_shape(a, b, axes)[i] -> same_size(a[i], b[i]) if i in axes, else a[i]
        from symconv.ops.shape import same_size
        i = spec[0][1] % source.out.type.shape[0]
        if i not in source.kw["axes"]:
            return source.inputs[0][i]
        return same_size(*[s[i] for s in source.inputs])
    var, axis = source.inputs[0], spec[0][1]
    found = _dim_source(var, axis)
    if found is not None:
        inp, axis = found
        return shape_op(inp)[axis]
    if var.owner is not None and var.owner.op.elemwise is not None:
        # shape(e(a, b))[i] -> same_size(shape(a)[i], shape(b)[i]): e's size check is kept
        # (it raises on a mismatch) without computing e itself
        from symconv.ops.shape import same_size
        sizing = _sizing_inputs(var, axis % var.ndim)
        if len(sizing) > 1:
            return same_size(*[shape_op(i)[axis % var.ndim] for i in sizing])
    return None


@register("canonicalize", ops=["pow"])
def pow_by_constant(node: Node) -> Variable | None:
    # x ** 2 -> sqr(x), x ** 1 -> x, x ** 0.5 -> sqrt(x), x ** -1 -> inv(x)
    from symconv.ops import elemwise as E
    x, c = node.inputs
    if not (isinstance(c, Constant) and all(s == 1 for s in c.type.shape)):
        return None
    value = float(c.data.reshape(-1)[0])
    if value == 1:
        return _same(x, node.out)
    make = {2.0: E.sqr, 0.5: E.sqrt, -1.0: E.inv}.get(value)
    if make is None or (value != 2.0 and x.dtype[0] not in "fc"):
        return None
    result = make(x)
    return result if result.type == node.out.type else None
