"""``symconv.tensor.signal``: pooling (Theano's ``theano.tensor.signal``)."""
from symconv.tensor.signal import pool, downsample  # noqa: F401
