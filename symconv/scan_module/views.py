"""``map``, ``reduce``, ``foldl`` and ``foldr``: scan with fewer arguments (Theano's views)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

from symconv.scan_module.builder import scan


def map(fn: Callable, sequences: Any, non_sequences: Any = None, truncate_gradient: int = -1,
        go_backwards: bool = False, mode: Any = None, name: str | None = None
        ) -> tuple[Any, OrderedDict]:
    """``fn`` applied to every element of the sequences: ``(outputs, updates)``."""
    return scan(fn, sequences=sequences, outputs_info=[], non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode,
                name=name)


def reduce(fn: Callable, sequences: Any, outputs_info: Any, non_sequences: Any = None,
           go_backwards: bool = False, mode: Any = None, name: str | None = None
           ) -> tuple[Any, OrderedDict]:
    """The last value of each output of ``scan``: ``(results, updates)``."""
    outputs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info,
                            non_sequences=non_sequences, go_backwards=go_backwards, mode=mode,
                            name=name)
    if isinstance(outputs, (list, tuple)):
        return [out[-1] for out in outputs], updates
    return outputs[-1], updates


def foldl(fn: Callable, sequences: Any, outputs_info: Any, non_sequences: Any = None,
          mode: Any = None, name: str | None = None) -> tuple[Any, OrderedDict]:
    """``reduce`` from the first element to the last."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, mode=mode,
                  name=name)


def foldr(fn: Callable, sequences: Any, outputs_info: Any, non_sequences: Any = None,
          mode: Any = None, name: str | None = None) -> tuple[Any, OrderedDict]:
    """``reduce`` from the last element to the first."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, mode=mode,
                  name=name)
