"""The IR: tensor types, variables, op applications (nodes), primitives, traversal, cloning."""
from __future__ import annotations

import itertools
import os
import sys
import weakref
from typing import Any, Callable, Iterable, Sequence

import numpy as np

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128")
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DISCRETE_DTYPES = ("bool",) + INT_DTYPES

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_ids = itertools.count()


class TensorType:
    """dtype + static shape (an int or None per axis); broadcastable axes are those of size 1."""

    __slots__ = ("dtype", "shape", "_hash")

    def __init__(self, dtype: Any, shape: Sequence[int | None] | None = None,
                 broadcastable: Sequence[bool] | None = None) -> None:
        name = np.dtype(dtype).name
        if name not in DTYPES:
            raise TypeError(f"unsupported dtype {name!r}; supported: {', '.join(DTYPES)}")
        if shape is None:
            if broadcastable is None:
                raise TypeError("TensorType needs a shape or a broadcastable pattern")
            shape = tuple(1 if b else None for b in broadcastable)
        shape = tuple(None if s is None else int(s) for s in shape)
        if broadcastable is not None:
            if len(broadcastable) != len(shape):
                raise TypeError("broadcastable and shape have different lengths")
            shape = tuple(1 if b else (None if s == 1 else s)
                          for s, b in zip(shape, broadcastable))
        object.__setattr__(self, "dtype", name)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "_hash", hash((name, shape)))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("TensorType is immutable")

    def __reduce__(self) -> tuple:
        return (TensorType, (self.dtype, self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return tuple(s == 1 for s in self.shape)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TensorType) and self.dtype == other.dtype
                and self.shape == other.shape)

    def __hash__(self) -> int:
        return self._hash

    def __call__(self, name: str | None = None) -> "Variable":
        """A new symbolic variable of this type (Theano's ``TensorType(...)(name)``)."""
        return Variable(self, None, name)

    def __str__(self) -> str:
        if all(s in (None, 1) for s in self.shape):   # Theano's form when sizes add nothing
            b = self.broadcastable
            named = {(): "scalar", (False,): "vector", (False, True): "col",
                     (True, False): "row", (False, False): "matrix"}
            kind = named.get(b, str(b) if any(b) else f"{len(b)}D")
            return f"TensorType({self.dtype}, {kind})"
        kind = {0: "scalar", 1: "vector", 2: "matrix"}.get(self.ndim, f"tensor{self.ndim}")
        shape = ", ".join("?" if s is None else str(s) for s in self.shape)
        return f"TensorType({self.dtype}, {kind}, shape=({shape}{',' if self.ndim == 1 else ''}))"

    __repr__ = __str__

    def value_error(self, value: Any) -> str | None:
        """Why ``value`` (an array) does not fit this type, or None."""
        if value.ndim != self.ndim:
            return (f"expected {self.ndim} dimensions ({self}), got {value.ndim} "
                    f"with shape {tuple(value.shape)}")
        for axis, (want, got) in enumerate(zip(self.shape, value.shape)):
            if want is not None and want != got:
                what = "broadcastable (size 1)" if want == 1 else f"of size {want}"
                return (f"axis {axis} must be {what} ({self}), got shape {tuple(value.shape)}")
        return None


_INSIDE_PACKAGE: dict[str, bool] = {}   # co_filename -> in symconv? (abspath per frame is slow)


def user_source_line() -> str:
    """``file:line`` of the innermost stack frame outside the symconv package."""
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        inside = _INSIDE_PACKAGE.get(path)
        if inside is None:
            inside = os.path.abspath(path).startswith(_PACKAGE_DIR + os.sep)
            _INSIDE_PACKAGE[path] = inside
        if not inside:
            return f"{path}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


class _Tag:
    """``var.tag``: free-form annotations (Theano's ``tag.test_value``)."""

    def __repr__(self) -> str:
        return f"Tag({self.__dict__})"


_TAGS: "weakref.WeakKeyDictionary[Variable, _Tag]" = weakref.WeakKeyDictionary()


class Variable:
    """A typed symbolic value: a graph input, a constant, a shared variable or an op's result.

    The IR's bare variable: the tensor layer (symconv.tensor.operators) adds Python's operators,
    Theano's methods and ``eval``.
    """

    __slots__ = ("type", "owner", "name", "trace", "id", "_eval_cache", "__weakref__")

    def __init__(self, type: TensorType, owner: "Node | None" = None,
                 name: str | None = None) -> None:
        self.type = type
        self.owner = owner
        self.name = name
        self.trace = user_source_line()
        self.id = next(_ids)
        if type.dtype == "float64" and not isinstance(self, (Constant, SharedVariable)):
            from symconv.config import config, float64_created
            if config.warn_float64 != "ignore":
                float64_created(f"{self!r} ({type}) at {self.trace}")

    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in _all_slots(type(self))
                if hasattr(self, k) and k != "_eval_cache"}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        self.id = next(_ids)

    @property
    def tag(self) -> _Tag:
        """Annotations of this variable (``x.tag.test_value``), created on first use."""
        tag = _TAGS.get(self)
        if tag is None:
            tag = _TAGS[self] = _Tag()
        return tag

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return self.type.broadcastable

    @property
    def static_shape(self) -> tuple[int | None, ...]:
        return self.type.shape

    def clone(self) -> "Variable":
        """A fresh input of the same type and name (not the same graph identity)."""
        return Variable(self.type, None, self.name)

    def __repr__(self) -> str:
        return self.name or (f"{self.owner.op.name}.out" if self.owner else f"<{self.type}>")

    __str__ = __repr__

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        # As Theano: a variable is truthy (``if not input:`` in the tutorials), except a
        # comparison's result, so that ``a < b < c`` (which Python runs as ``(a < b) and
        # (b < c)``) fails instead of silently meaning ``b < c``.
        scalar = getattr(self.owner.op, "elemwise", None) if self.owner is not None else None
        if scalar is not None and scalar.dtype_rule == "bool":
            raise TypeError("a comparison of symbolic variables has no truth value (chained "
                            "comparisons like a < b < c are not supported); use T.and_, "
                            "T.switch or T.eq")
        return True


def _all_slots(cls: type) -> list[str]:
    names = []
    for klass in cls.__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name not in ("__weakref__", "__dict__"):
                names.append(name)
    return names


class Constant(Variable):
    """A variable with a fixed value, folded into compiled functions."""

    __slots__ = ("data",)

    def __init__(self, type: TensorType, data: np.ndarray, name: str | None = None) -> None:
        super().__init__(type, None, name)
        self.data = data
        self.data.setflags(write=False)

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self.data.size <= 8:
            text = np.array2string(self.data, separator=",").replace("\n", "")
            return text if self.data.ndim else f"{self.data.item()!r}"
        return f"Constant{{{self.type}}}"

    __str__ = __repr__

    def clone(self) -> "Constant":
        return self

    @property
    def value(self) -> np.ndarray:
        """The constant's array (Theano's ``Constant.value``)."""
        return self.data

    def signature(self) -> tuple:
        """Key under which equal constants are merged."""
        return (self.type, self.data.tobytes())


class SharedVariable(Variable):
    """A variable whose value persists across calls and is updated by compiled functions."""

    __slots__ = ("container", "default_update")

    def clone(self) -> "SharedVariable":
        return self

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> Any:
        return self.container.get(borrow, return_internal_type)

    def set_value(self, value: Any, borrow: bool = False) -> None:
        self.container.set(value, borrow, self)

    def __repr__(self) -> str:
        return self.name or f"<shared {self.type}>"

    __str__ = __repr__


class Node:
    """One application of an op to input variables, with its hashable parameters."""

    __slots__ = ("op", "inputs", "params", "out", "__weakref__")

    def __init__(self, op: "Op", inputs: Sequence[Variable], params: tuple,
                 out_type: TensorType) -> None:
        self.op = op
        self.inputs = tuple(inputs)
        self.params = params
        # a type may name its own variable class (sparse matrices: symconv.sparse)
        self.out = getattr(out_type, "variable_class", Variable)(out_type, self)

    def __getstate__(self) -> dict:
        return {"op": self.op, "inputs": self.inputs, "params": self.params, "out": self.out}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)

    @property
    def outputs(self) -> list[Variable]:
        return [self.out]

    @property
    def kw(self) -> dict:
        return dict(self.params)

    def key(self) -> tuple:
        """Identity of the computation, for merging equal subexpressions."""
        return (self.op, self.params, tuple(id(i) for i in self.inputs))

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params if v is not None)
        return f"{self.op.name}{{{params}}}" if params else self.op.name


def freeze(value: Any) -> Any:
    """A hashable version of a parameter value (lists become tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, np.generic):
        return value.item()
    return value


OPS: dict[str, "Op"] = {}


def _check_tensor_inputs(op: "Op", inputs: Sequence[Any]) -> None:
    for i, var in enumerate(inputs):
        if isinstance(var, Variable) and not isinstance(var.type, TensorType):
            raise TypeError(f"{op.name}: input {i} ({var}) is a {var.type}, not a tensor (Theano's "
                            f"AsTensorError); sparse matrices take symconv.sparse's ops, or "
                            f"sparse.dense_from_sparse first")


class Op:
    """A primitive: its type rule (infer), its kernel and its gradient rule, in one record.

    infer(*input_types, **params) -> TensorType
    kernel(xp, *arrays, **params) -> array            (written once against the NumPy API)
    grad(g, out, *inputs, **params) -> [Variable | None per input]
    expand(*inputs, **params) -> Variable   (optional: the same value written with other ops;
                                             an op without a grad rule is differentiated
                                             through its expansion)
    """

    def __init__(self, name: str, infer: Callable, kernel: Callable,
                 grad: Callable | None = None, *, prepare: Callable | None = None,
                 elemwise: Any = None, view: bool = False, differentiable: bool = True,
                 infer_vars: bool = False, expand: Callable | None = None,
                 fresh: bool = False, shape_from: int | None = None, gemm: bool = False,
                 sized_by_values: bool = False, doc: str | None = None,
                 nondeterministic: bool = False) -> None:
        if name in OPS:
            raise ValueError(f"op {name!r} is defined twice")
        self.name = name
        self.infer = infer
        self.kernel = kernel
        self.grad = grad
        # prepare(raw inputs, params) -> (Variables, params): converts literals, canonicalises
        self.prepare = prepare
        self.elemwise = elemwise    # scalar description for fusion/codegen (ops.elemwise.Scalar)
        self.view = view            # result may alias its first input's memory
        self.expand = expand
        # facts the executor, rewrites and backends read instead of keeping op-name tables:
        self.fresh = fresh          # the kernel returns a new array it owns (reusable as out=)
        self.shape_from = shape_from  # the result has the shape of this input
        self.gemm = gemm            # the kernel is matrix-multiply bound (BLAS/cuBLAS)
        self.sized_by_values = sized_by_values  # the result's size comes from input values
        self.differentiable = differentiable and (grad is not None or expand is not None)
        self.declared_not_differentiable = not differentiable   # said so, not just no rule
        self.infer_vars = infer_vars  # infer reads input variables (constant values), not types
        # a random draw: never merged with an equal-looking node nor folded into a constant
        self.nondeterministic = nondeterministic
        self.__doc__ = doc
        OPS[name] = self

    any_type = False   # True: inputs may be of non-tensor types (sparse ops, symconv.sparse)

    def __reduce__(self) -> tuple:
        return (get_op, (self.name,))

    def __repr__(self) -> str:
        return f"Op({self.name})"

    def __call__(self, *inputs: Any, **params: Any) -> Variable:
        return self.make_node(inputs, params).out

    def make_node(self, inputs: Sequence[Any], params: dict) -> Node:
        if self.prepare is not None:
            inputs, params = self.prepare(list(inputs), dict(params))
        else:
            inputs = [as_tensor_variable(x) for x in inputs]
        if not self.any_type:
            _check_tensor_inputs(self, inputs)
        frozen = tuple(sorted((k, freeze(v)) for k, v in params.items()))
        node = Node(self, inputs, frozen, self.out_type(inputs, frozen))
        from symconv.config import config
        if config.compute_test_value != "off" and _node_hooks:
            for hook in _node_hooks:   # symconv.test_value registers one (it runs kernels)
                hook(node, config.compute_test_value)
        return node

    def out_type(self, inputs: Sequence[Variable], params: tuple) -> TensorType:
        if self.infer_vars:
            return self.infer(*inputs, **dict(params))
        return self.infer(*[v.type for v in inputs], **dict(params))


# Called on every new node when config.compute_test_value is on; registered from above (the
# test-value hook runs the node's kernel on a backend, which the IR cannot import).
_node_hooks: list[Callable[[Node, str], None]] = []


def get_op(name: str) -> Op:
    """The registered op called ``name`` (every op is registered once symconv is imported)."""
    return OPS[name]


def apply(op: Op, inputs: Sequence[Variable], params: tuple) -> Variable:
    """Rebuild a node from already-canonical inputs and frozen params (used by rewrites)."""
    return Node(op, inputs, params, op.out_type(inputs, params)).out


def toposort_vars(outputs: Iterable[Variable], blockers: Iterable[Variable] = ()) -> list[Variable]:
    """Variables in dependency order (each after everything it is computed from)."""
    blocked = {id(b) for b in blockers}
    order: list[Variable] = []
    seen: set[int] = set()
    for root in outputs:
        if id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            var, expanded = stack.pop()
            if expanded:
                order.append(var)
                continue
            if id(var) in seen:
                continue
            seen.add(id(var))
            stack.append((var, True))
            if var.owner is not None and id(var) not in blocked:
                for inp in reversed(var.owner.inputs):
                    if id(inp) not in seen:
                        stack.append((inp, False))
    return order


def toposort(outputs: Iterable[Variable], blockers: Iterable[Variable] = ()) -> list[Node]:
    """Nodes in dependency order."""
    blocked = {id(b) for b in blockers}
    return [v.owner for v in toposort_vars(outputs, blockers)
            if v.owner is not None and id(v) not in blocked]


def graph_inputs(outputs: Iterable[Variable], blockers: Iterable[Variable] = ()) -> list[Variable]:
    """Variables without an owner (inputs, constants, shared) the outputs depend on."""
    blocked = {id(b) for b in blockers}
    return [v for v in toposort_vars(outputs, blockers) if v.owner is None or id(v) in blocked]


def rebuild(outputs: Sequence[Variable], rule: Callable[["Node", list[Variable]],
                                                         "Variable | None"] | None = None,
            replace: dict[Variable, Variable] | None = None) -> list[Variable]:
    """The outputs' graph with every node rebuilt over rebuilt inputs (originals kept).

    ``replace`` substitutes variables (their own graphs are not visited); ``rule(node,
    inputs)`` may return a replacement for a node given its rebuilt inputs (None: the same op
    and parameters, applied anew only if an input changed). Replacements keep the name (unless
    they have their own) and the creating line of the variable they stand for."""
    replace = replace or {}
    memo: dict[int, Variable] = {id(k): v for k, v in replace.items()}
    for var in toposort_vars(outputs, replace.keys()):
        node = var.owner
        if id(var) in memo or node is None:
            continue
        inputs = [memo.get(id(i), i) for i in node.inputs]
        new = rule(node, inputs) if rule is not None else None
        if new is None and any(a is not b for a, b in zip(inputs, node.inputs)):
            new = apply(node.op, inputs, node.params)
        if new is not None and new is not var:
            new.name = new.name or var.name
            new.trace = var.trace
            memo[id(var)] = new
    return [memo.get(id(o), o) for o in outputs]


def clone_replace(outputs: Sequence[Variable], replace: dict[Variable, Variable]
                  ) -> list[Variable]:
    """Copies of the outputs' graphs with variables substituted (``givens``); originals kept."""
    return rebuild(outputs, replace=replace)


def autocast_dtype(value: bool | int | float | complex) -> str:
    """Theano's dtype for a Python literal: floatX for floats, the narrowest int for ints."""
    from symconv.config import config
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, int):
        for dtype in ("int8", "int16", "int32", "int64"):
            info = np.iinfo(dtype)
            if info.min <= value <= info.max:
                return dtype
        if 0 <= value <= np.iinfo("uint64").max:
            return "uint64"
        raise OverflowError(f"Python int {value} is too large for any integer dtype (as Theano)")
    if isinstance(value, float):
        return config.floatX
    if isinstance(value, complex):
        return "complex128"
    raise TypeError(f"not a Python number: {value!r}")


def is_literal(value: Any) -> bool:
    """A Python number (weakly typed in arithmetic with tensors)."""
    return isinstance(value, (bool, int, float, complex)) and not isinstance(value, np.generic)


def constant(value: Any, name: str | None = None, dtype: str | None = None,
             ndim: int | None = None) -> Constant:
    """A constant variable; Python numbers get Theano's autocast dtype."""
    if dtype is None and is_literal(value):
        dtype = autocast_dtype(value)
    if dtype == "floatX":
        from symconv.config import config
        dtype = config.floatX
    data = np.array(value, dtype=dtype)
    if data.dtype == object:
        raise TypeError(f"cannot make a constant from {type(value).__name__} value {value!r}")
    if ndim is not None and data.ndim != ndim:
        if data.ndim > ndim:
            raise TypeError(f"constant has {data.ndim} dimensions, expected {ndim}")
        data = data.reshape((1,) * (ndim - data.ndim) + data.shape)
    return Constant(TensorType(data.dtype, data.shape), data, name)


_sequence_builder: Callable[[list], Variable] | None = None


def register_sequence_builder(build: Callable[[list], Variable]) -> None:
    """How a list mixing variables and numbers becomes a vector (the tensor layer's stack)."""
    global _sequence_builder
    _sequence_builder = build


def as_tensor_variable(x: Any, name: str | None = None, ndim: int | None = None) -> Variable:
    """``x`` as a symbolic variable: variables pass through, numbers and arrays become constants,
    lists mixing variables and numbers become a stacked vector (as Theano's MakeVector)."""
    if isinstance(x, Variable):
        if ndim is not None and x.ndim != ndim:
            raise TypeError(f"expected a {ndim}-d variable, got {x} of type {x.type}")
        return x
    if isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in x):
        if _sequence_builder is None:
            raise TypeError("a list mixing variables and numbers needs symconv.tensor")
        return _sequence_builder([as_tensor_variable(e) for e in x])
    if hasattr(x, "__cuda_array_interface__") and not isinstance(x, np.ndarray):
        x = x.get()  # a CuPy array used as a constant lives in the graph as host data
    return constant(x, name=name, ndim=ndim)
