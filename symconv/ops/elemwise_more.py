"""More elementwise scalar functions: trigonometric and hyperbolic inverses, isnan/isinf."""
from __future__ import annotations

import numpy as np

from symconv.ops.elemwise import elemwise_op, sqr, sqrt


def _rsqrt_1m(x):   # 1 / sqrt(1 - x^2)
    return 1 / sqrt(1 - sqr(x))


tan = elemwise_op("tan", 1, "tan({0})", "float", lambda g, out, x: [g * (1 + sqr(out))])
arcsin = elemwise_op("arcsin", 1, "asin({0})", "float",
                     lambda g, out, x: [g * _rsqrt_1m(x)])
arccos = elemwise_op("arccos", 1, "acos({0})", "float",
                     lambda g, out, x: [-g * _rsqrt_1m(x)])
arctan = elemwise_op("arctan", 1, "atan({0})", "float",
                     lambda g, out, x: [g / (1 + sqr(x))])
arctan2 = elemwise_op("arctan2", 2, "atan2({0}, {1})", "float",
                      lambda g, out, y, x: [g * x / (sqr(x) + sqr(y)),
                                            -g * y / (sqr(x) + sqr(y))])
sinh = elemwise_op("sinh", 1, "sinh({0})", "float", lambda g, out, x: [g * cosh(x)])
cosh = elemwise_op("cosh", 1, "cosh({0})", "float", lambda g, out, x: [g * sinh(x)])
arcsinh = elemwise_op("arcsinh", 1, "asinh({0})", "float",
                      lambda g, out, x: [g / sqrt(sqr(x) + 1)])
arccosh = elemwise_op("arccosh", 1, "acosh({0})", "float",
                      lambda g, out, x: [g / sqrt(sqr(x) - 1)])
arctanh = elemwise_op("arctanh", 1, "atanh({0})", "float",
                      lambda g, out, x: [g / (1 - sqr(x))])
exp2 = elemwise_op("exp2", 1, "exp2({0})", "float",
                   lambda g, out, x: [g * out * float(np.log(2.0))])
deg2rad = elemwise_op("deg2rad", 1, "({0} * 0.017453292519943295)", "float",
                      lambda g, out, x: [g * float(np.pi / 180)])
rad2deg = elemwise_op("rad2deg", 1, "({0} * 57.29577951308232)", "float",
                      lambda g, out, x: [g * float(180 / np.pi)])
isnan = elemwise_op("isnan", 1, "isnan((double){0})", "bool", None)
isinf = elemwise_op("isinf", 1, "isinf((double){0})", "bool", None)
