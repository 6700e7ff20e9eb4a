"""The CuPy backend (``device=cuda`` / ``cudaN``): device arrays, generated CUDA kernels, cuBLAS.

CuPy is imported only when a CUDA backend is created, so ``import symconv`` works without it;
``DeviceUnavailableError`` then names the missing piece (CuPy, the driver, or the device).

Where values live (Theano's GPU semantics):

- ``shared()`` stores float values on the GPU; ``get_value()`` returns a NumPy copy,
  ``get_value(borrow=True, return_internal_type=True)`` the CuPy array itself, and
  ``set_value`` takes either (a CuPy array of the right dtype is stored without a host trip).
- A compiled function copies NumPy inputs to the device and returns NumPy outputs. To keep
  results on the device, call it through `call_device` (inputs may then be CuPy arrays too).
- Integer and bool scalars (indices, sizes) stay on the host, as does arithmetic on shapes:
  nodes whose inputs are all host values run on NumPy, so slicing a shared dataset with a
  minibatch index needs no device-to-host synchronisation.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from symconv.backends.base import Backend, Thunk
from symconv.graph import Constant, Node, SharedVariable, Variable


class DeviceUnavailableError(RuntimeError):
    """device=cuda was asked for, but CuPy, the NVIDIA driver or the device is missing."""


def load_cupy(device: str) -> tuple[Any, int]:
    """(the cupy module, device index) for ``device``, or DeviceUnavailableError saying why."""
    index = int(device[4:] or 0) if device.startswith("cuda") else 0
    try:
        import cupy
    except ImportError as err:
        raise DeviceUnavailableError(
            f"device={device} needs CuPy, which is not installed ({err}); install it with "
            f"pip install 'cupy-cuda13x' (the symconv[cuda] extra) or use device=cpu") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:   # CUDARuntimeError, or a driver library that fails to load
        text = str(err)
        if "NoDevice" in text or "no CUDA-capable device" in text:
            cause = "no CUDA GPU was found"
        elif "river" in text or "libcuda" in text:
            cause = "no usable NVIDIA driver was found"
        else:
            cause = "CUDA could not be initialised"
        raise DeviceUnavailableError(f"device={device}: CuPy is installed but {cause} ({text}); "
                                     f"use device=cpu") from None
    if count == 0:
        raise DeviceUnavailableError(f"device={device}: no CUDA GPU was found; use device=cpu")
    if index >= count:
        raise DeviceUnavailableError(f"device={device}: this machine has {count} CUDA "
                                     f"device(s), numbered 0 to {count - 1}")
    return cupy, index


def _is_host_scalar_dtype(dtype: Any) -> bool:
    return np.dtype(dtype).kind in "biu"


class CupyBackend(Backend):
    """Runs compiled graphs on one NVIDIA GPU through CuPy."""

    kind = "cuda"    # its overrides: the lowerings registered with cuda.lowerings.lowering
    is_host = False

    def __init__(self, device: str = "cuda") -> None:
        from symconv.backends.cuda import cnn, lowerings  # noqa: F401  (register overrides)
        from symconv.backends.cuda import random  # noqa: F401  (registers the MRG kernel)
        from symconv.backends.numpy import NumpyBackend
        cp, index = load_cupy(device)
        self.name = device
        self.xp = cp
        self.device_id = index
        cp.cuda.Device(index).use()
        self.host = NumpyBackend()
        self._kernels: dict[str, Any] = {}
        self._host_memo: dict[int, tuple[Node, bool]] = {}

    # ---- values -------------------------------------------------------------------------
    def to_device(self, array: Any) -> Any:
        if isinstance(array, self.xp.ndarray):
            return array
        array = np.asarray(array)
        if array.ndim == 0 and _is_host_scalar_dtype(array.dtype):
            return array          # indices and sizes stay on the host
        return self.xp.asarray(array)

    def to_host(self, array: Any) -> np.ndarray:
        if isinstance(array, self.xp.ndarray):
            return array.get()
        return np.asarray(array)

    def is_device_array(self, value: Any) -> bool:
        return isinstance(value, self.xp.ndarray)

    # ---- kernels ------------------------------------------------------------------------
    def kernel(self, name: str, source: str) -> Any:
        """The compiled ``__global__`` function ``name`` of ``source`` (cached by name, which
        the generators derive from the source's hash)."""
        found = self._kernels.get(name)
        if found is None:
            module = self.xp.RawModule(code=source, options=("--std=c++17",))
            found = self._kernels[name] = module.get_function(name)
        return found

    def thunk(self, node: Node) -> Thunk:
        if self.is_host_node(node):
            return self.host_thunk(node)
        return super().thunk(node)

    def elemwise_thunk(self, node: Node) -> Thunk:
        from symconv.backends.cuda.lowerings import elemwise_lowering
        return elemwise_lowering(self, node)

    def generic_thunk(self, node: Node) -> Thunk:
        """The op's ``xp`` kernel on CuPy; host inputs are converted (0-d ones to NumPy scalars,
        which CuPy accepts wherever a Python number goes)."""
        inner = super().generic_thunk(node)
        host = [i for i, v in enumerate(node.inputs) if self.is_host_var(v)]
        if not host:
            return inner
        cp = self.xp

        def thunk(*arrays: Any) -> Any:
            args = list(arrays)
            for i in host:
                a = args[i]
                if isinstance(a, np.ndarray):
                    args[i] = a[()] if a.ndim == 0 else cp.asarray(a)
            return inner(*args)
        return thunk

    def host_thunk(self, node: Node) -> Thunk:
        """The NumPy thunk of a node computed from host values; its constants are read from
        the graph (the program holds device copies of them)."""
        inner = self.host.thunk(node)
        consts = {i: v.data for i, v in enumerate(node.inputs) if isinstance(v, Constant)}
        if not consts:
            return inner

        def thunk(*arrays: Any) -> Any:
            args = list(arrays)
            for i, data in consts.items():
                args[i] = data
            return inner(*args)
        return thunk

    # ---- where values live ----------------------------------------------------------------
    def is_host_var(self, var: Variable) -> bool:
        """Whether ``var``'s value is a NumPy array at run time on this backend."""
        if isinstance(var, Constant):
            return var.ndim == 0 and _is_host_scalar_dtype(var.dtype)
        if isinstance(var, SharedVariable):
            return var.container.backend.is_host
        if var.owner is None:
            return var.ndim == 0 and _is_host_scalar_dtype(var.dtype)
        return self.is_host_node(var.owner)

    def is_host_node(self, node: Node) -> bool:
        """Shapes, and anything computed only from host values (sizes, indices), stay on the
        host: tiny arrays for which a kernel launch would cost more than NumPy."""
        found = self._host_memo.get(id(node))
        if found is not None and found[0] is node:
            return found[1]
        if node.op.name == "shape":
            result = True
        else:
            inputs = [i for i in node.inputs if not isinstance(i, Constant)]
            try:
                result = bool(inputs) and all(i.ndim <= 1 and self.is_host_var(i)
                                              for i in inputs)
            except RecursionError:
                result = False
        if len(self._host_memo) > 100_000:
            self._host_memo.clear()
        self._host_memo[id(node)] = (node, result)
        return result


def call_device(fn: Any, *args: Any) -> Any:
    """Call compiled function ``fn`` and return its outputs as device (CuPy) arrays.

    Inputs may be NumPy or CuPy arrays (CuPy ones must have the input's dtype and ndim and are
    used without a copy); updates are applied as in a normal call. Outputs can alias a shared
    variable's storage: copy them before the next call if you keep them.
    """
    backend = fn.program.backend
    values = []
    for spec, value in zip(fn.input_specs, args):
        if backend.is_device_array(value):
            if value.dtype.name != spec.var.dtype or value.ndim != spec.var.ndim:
                raise TypeError(f"input {spec.position} must be a {spec.var.type}, got a device "
                                f"array of dtype {value.dtype} and shape {value.shape}")
        else:
            value = backend.to_device(spec.check(value))
        values.append(value)
    if len(values) != len(fn.input_specs):
        raise TypeError(f"{fn} takes {len(fn.input_specs)} inputs, got {len(values)}")
    outs, ups = fn.run_program(values)
    if ups:
        fn.write_updates(ups)
    return fn.arrange_outputs(outs)
