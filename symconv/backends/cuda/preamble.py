"""The C types of symconv's dtypes and the CUDA preamble every generated kernel starts with.

The preamble defines, for every compute type, the helper functions that the ops' scalar
templates (``Scalar.c`` in symconv/ops/elemwise.py) call beyond CUDA's math library, with
NumPy's semantics: ``floor_div`` and ``py_mod`` round toward -inf and give 0 for an integer
division by zero, ``max``/``min`` propagate NaN, ``sgn`` keeps NaN, ``pow`` of integers is
exact. float16 is stored as raw bits and computed in float32 (as NumPy's float16 ufuncs do), so
the preamble needs no CUDA header: NVRTC compiles it on machines without the toolkit.
"""
from __future__ import annotations

# storage type of an array element; float16 is a 2-byte struct converted explicitly
STORAGE = {
    "bool": "bool", "int8": "signed char", "int16": "short", "int32": "int",
    "int64": "long long", "uint8": "unsigned char", "uint16": "unsigned short",
    "uint32": "unsigned int", "uint64": "unsigned long long", "float16": "sc_half",
    "float32": "float", "float64": "double",
}

# type that arithmetic on an element happens in
COMPUTE = dict(STORAGE, float16="float")

FLOAT_DTYPES = ("float16", "float32", "float64")
SUPPORTED = tuple(STORAGE)


def storage(dtype: str) -> str:
    return STORAGE[dtype]


def compute(dtype: str) -> str:
    return COMPUTE[dtype]


def load(dtype: str, expr: str) -> str:
    """C expression reading element ``expr`` (of storage type) as its compute type."""
    return f"sc_h2f({expr})" if dtype == "float16" else expr


def store(dtype: str, expr: str) -> str:
    """C expression converting compute value ``expr`` to the storage type of ``dtype``."""
    if dtype == "float16":
        return f"sc_f2h((float)({expr}))"
    return f"({STORAGE[dtype]})({expr})"


def literal(dtype: str, value: float | int | bool) -> str:
    """A C literal of compute type for ``value`` (infinities included)."""
    ctype = COMPUTE[dtype]
    if dtype == "bool":
        return "true" if value else "false"
    if dtype in FLOAT_DTYPES:
        value = float(value)
        if value != value:
            return f"(({ctype})NAN)"
        if value in (float("inf"), float("-inf")):
            return f"(({ctype}){'-' if value < 0 else ''}INFINITY)"
        return f"(({ctype}){value!r})"
    return f"(({ctype}){int(value)}LL)" if int(value) < 0 else f"(({ctype}){int(value)}ULL)"


PREAMBLE = r"""
// ---- symconv CUDA preamble (generated; no headers needed) ----
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif
struct __align__(2) sc_half { unsigned short bits; };

__device__ __forceinline__ float sc_h2f(sc_half h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits));
    return f;
}
__device__ __forceinline__ sc_half sc_f2h(float f) {
    sc_half h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
    return h;
}

template <typename T> struct sc_is_float { static constexpr bool value = false; };
template <> struct sc_is_float<float> { static constexpr bool value = true; };
template <> struct sc_is_float<double> { static constexpr bool value = true; };
template <typename T> struct sc_is_bool { static constexpr bool value = false; };
template <> struct sc_is_bool<bool> { static constexpr bool value = true; };
template <typename T> __device__ __forceinline__ constexpr bool sc_signed() {
    return !sc_is_bool<T>::value && T(-1) < T(0);
}

// Python's a // b: rounds toward -inf; NumPy's divmod corrections for floats.
template <typename T> __device__ __forceinline__ T floor_div(T a, T b) {
    if constexpr (sc_is_float<T>::value) {
        if (b == T(0)) return a / b;
        T mod = fmod(a, b);
        T div = (a - mod) / b;
        if (mod != T(0) && ((b < T(0)) != (mod < T(0)))) div -= T(1);
        if (div == T(0)) return copysign(T(0), a / b);
        T fl = floor(div);
        return (div - fl > T(0.5)) ? fl + T(1) : fl;
    } else if constexpr (sc_is_bool<T>::value) {
        return b ? a : false;
    } else {
        if (b == T(0)) return T(0);
        T q = a / b;
        if constexpr (sc_signed<T>()) {
            if ((a % b != T(0)) && ((a < T(0)) != (b < T(0)))) q -= T(1);
        }
        return q;
    }
}

// Python's a % b: the result has the sign of b.
template <typename T> __device__ __forceinline__ T py_mod(T a, T b) {
    if constexpr (sc_is_float<T>::value) {
        T r = fmod(a, b);
        if (b == T(0)) return r;
        if (r != T(0)) {
            if ((b < T(0)) != (r < T(0))) r += b;
        } else {
            r = copysign(T(0), b);
        }
        return r;
    } else if constexpr (sc_is_bool<T>::value) {
        return false;
    } else {
        if (b == T(0)) return T(0);
        T r = a % b;
        if constexpr (sc_signed<T>()) {
            if (r != T(0) && ((r < T(0)) != (b < T(0)))) r += b;
        }
        return r;
    }
}

template <typename T> __device__ __forceinline__ T sgn(T x) {
    if constexpr (sc_is_float<T>::value) {
        return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);   // 0 and NaN map to themselves
    } else {
        return T((x > T(0)) - (x < T(0)));
    }
}

template <typename T> __device__ __forceinline__ T sc_max(T a, T b) {
    if constexpr (sc_is_float<T>::value) {
        return (a != a) ? a : ((b != b) ? b : (a > b ? a : b));
    } else {
        return a > b ? a : b;
    }
}

template <typename T> __device__ __forceinline__ T sc_min(T a, T b) {
    if constexpr (sc_is_float<T>::value) {
        return (a != a) ? a : ((b != b) ? b : (a < b ? a : b));
    } else {
        return a < b ? a : b;
    }
}

template <typename T> __device__ __forceinline__ T sc_abs(T x) {
    if constexpr (sc_is_float<T>::value) {
        return fabs(x);
    } else if constexpr (sc_signed<T>()) {
        return x < T(0) ? T(-x) : x;
    } else {
        return x;
    }
}

template <typename T> __device__ __forceinline__ T sc_pow(T a, T b) {
    if constexpr (sc_is_float<T>::value) {
        return pow(a, b);
    } else if constexpr (sc_is_bool<T>::value) {
        return b ? a : true;
    } else {
        if constexpr (sc_signed<T>()) {
            if (b < T(0)) {   // NumPy refuses; the exact result truncated toward 0
                if (a == T(1)) return T(1);
                if (a == T(-1)) return (b & T(1)) ? T(-1) : T(1);
                return T(0);
            }
        }
        T r = T(1);
        while (b) {
            if (b & T(1)) r = T(r * a);
            a = T(a * a);
            b = T(b >> 1);
        }
        return r;
    }
}

template <typename T> __device__ __forceinline__ T invert(T x) {
    if constexpr (sc_is_bool<T>::value) {
        return !x;
    } else {
        return T(~x);
    }
}

// exact in both tails, as the NumPy kernel exp(-logaddexp(0, -x))
__device__ __forceinline__ float sigmoid(float x) {
    return x >= 0.f ? 1.f / (1.f + expf(-x)) : expf(x) / (1.f + expf(x));
}
__device__ __forceinline__ double sigmoid(double x) {
    return x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}
// logaddexp(0, x)
__device__ __forceinline__ float softplus(float x) {
    return x > 0.f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}
__device__ __forceinline__ double softplus(double x) {
    return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

#define max sc_max
#define min sc_min
#define abs sc_abs
#define pow sc_pow
// ---- end of preamble ----
"""
