"""Theano's ``theano.sandbox`` paths: ``symconv.sandbox.rng_mrg.MRG_RandomStreams``."""
from symconv.sandbox import rng_mrg  # noqa: F401
