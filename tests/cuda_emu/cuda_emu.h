// CUDA emulation for running symconv's generated kernels on the CPU (tests only).
//
// Maps the CUDA vocabulary the generated sources use onto C++20: __global__/__device__,
// threadIdx/blockIdx/blockDim/gridDim, __shared__, __syncthreads, __shfl_xor_sync, the PTX
// float16 conversions of the preamble (rewritten by tests/cuda_emu/build.py into
// sc_emu_h2f/sc_emu_f2h calls), and bounds-checked pointers for kernel parameters.
//
// A grid runs block after block on one OS thread. Kernels without barriers run thread after
// thread; kernels with __syncthreads or warp shuffles run their block's threads as fibers
// (ucontext), switched round-robin at every barrier: one round = every live thread runs to its
// next barrier, which is __syncthreads' contract. Warp shuffles are two such barriers around an
// exchange through per-thread slots. __shared__ becomes a function-local static, which is one
// copy per block because blocks never overlap.
#pragma once

// No C++ standard headers: they cost more compile time than the kernels (CI runs g++ cold).
#include <stdlib.h>
#include <setjmp.h>
#include <ucontext.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __align__(n) alignas(n)
#define __shared__ static
#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))

// CUDA's math library: an overload per float type (exp(float) is expf, as on the device)
#define SC_EMU_MATH1(fn)                                                  \
    inline float fn(float x) { return __builtin_##fn##f(x); }            \
    inline double fn(double x) { return __builtin_##fn(x); }
#define SC_EMU_MATH2(fn)                                                  \
    inline float fn(float x, float y) { return __builtin_##fn##f(x, y); } \
    inline double fn(double x, double y) { return __builtin_##fn(x, y); }
SC_EMU_MATH1(exp) SC_EMU_MATH1(expm1) SC_EMU_MATH1(log) SC_EMU_MATH1(log1p)
SC_EMU_MATH1(log2) SC_EMU_MATH1(log10) SC_EMU_MATH1(sin) SC_EMU_MATH1(cos)
SC_EMU_MATH1(tanh) SC_EMU_MATH1(sqrt) SC_EMU_MATH1(floor) SC_EMU_MATH1(ceil)
SC_EMU_MATH1(rint) SC_EMU_MATH1(fabs) SC_EMU_MATH1(trunc)
SC_EMU_MATH2(fmod) SC_EMU_MATH2(copysign) SC_EMU_MATH2(pow)
SC_EMU_MATH1(tan) SC_EMU_MATH1(asin) SC_EMU_MATH1(acos) SC_EMU_MATH1(atan)
SC_EMU_MATH1(sinh) SC_EMU_MATH1(cosh) SC_EMU_MATH1(asinh) SC_EMU_MATH1(acosh)
SC_EMU_MATH1(atanh) SC_EMU_MATH1(exp2) SC_EMU_MATH2(atan2)
inline bool isnan(double x) { return __builtin_isnan(x); }
inline bool isinf(double x) { return __builtin_isinf(x); }
inline float expf(float x) { return __builtin_expf(x); }
inline float log1pf(float x) { return __builtin_log1pf(x); }

struct sc_emu_dim3 {
    unsigned int x = 1, y = 1, z = 1;
};

inline sc_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

inline float __int_as_float(int i) {
    float f;
    __builtin_memcpy(&f, &i, sizeof f);
    return f;
}

// ---- float16 <-> float32 (the preamble's cvt.f32.f16 / cvt.rn.f16.f32) -----------------
inline float sc_emu_h2f(unsigned short bits) {
    _Float16 h;
    __builtin_memcpy(&h, &bits, sizeof h);
    return (float)h;
}

inline unsigned short sc_emu_f2h(float f) {
    const _Float16 h = (_Float16)f;   // round to nearest even, as cvt.rn
    unsigned short bits;
    __builtin_memcpy(&bits, &h, sizeof bits);
    return bits;
}

// ---- errors (first one wins; read from Python after the launch) -------------------------
struct sc_emu_error_t {
    int code = 0;          // 0 none, 1 out-of-bounds access, 2 misuse of a barrier
    int arg = -1;          // kernel parameter index of the pointer
    long long index = 0, lo = 0, hi = 0;
    unsigned int block = 0, thread = 0;
};

inline sc_emu_error_t sc_emu_error;

inline void sc_emu_fail(int code, int arg, long long index, long long lo, long long hi) {
    if (sc_emu_error.code == 0) {
        sc_emu_error = {code, arg, index, lo, hi, blockIdx.x, threadIdx.x};
    }
}

// A kernel pointer parameter that knows which elements of the array it may touch: [lo, hi)
// relative to where it points. Pointer arithmetic keeps the bounds.
template <typename T>
struct sc_emu_ptr {
    T* p;
    long long lo, hi;
    int arg;

    T& operator[](long long i) const {
        if (i < lo || i >= hi) {
            sc_emu_fail(1, arg, i, lo, hi);
            static unsigned long long scratch[2];   // reads give 0 bits; writes go nowhere
            scratch[0] = scratch[1] = 0;
            return *reinterpret_cast<T*>(scratch);
        }
        return p[i];
    }
    sc_emu_ptr operator+(long long k) const { return {p + k, lo - k, hi - k, arg}; }
    sc_emu_ptr operator-(long long k) const { return *this + (-k); }
};

template <typename T>
sc_emu_ptr<T> sc_emu_arg(void* value, const long long* bounds, int arg) {
    return {*reinterpret_cast<T**>(value), bounds[2 * arg], bounds[2 * arg + 1], arg};
}

template <typename T>
T sc_emu_scalar(void* value) {
    return *reinterpret_cast<T*>(value);
}

// ---- barriers: one fiber per CUDA thread of the running block ---------------------------
constexpr unsigned int SC_EMU_MAX_BLOCK = 1024;
constexpr unsigned long SC_EMU_STACK = 1 << 16;

struct sc_emu_body {   // the launcher's per-thread call: the kernel with its arguments bound
    void (*call)(void*);
    void* context;
};

struct sc_emu_fibers_t {
    bool active = false;
    unsigned int current = 0;
    ucontext_t start;                      // used once per thread: onto its own stack
    jmp_buf scheduler;
    jmp_buf threads[SC_EMU_MAX_BLOCK];
    char* stacks[SC_EMU_MAX_BLOCK] = {};
    char started[SC_EMU_MAX_BLOCK];
    char done[SC_EMU_MAX_BLOCK];
    unsigned long long slots[SC_EMU_MAX_BLOCK];   // warp-shuffle exchange, one per thread
    sc_emu_body body;
};

inline sc_emu_fibers_t sc_emu_fibers;

inline void sc_emu_fiber_main() {
    sc_emu_fibers_t& f = sc_emu_fibers;
    f.body.call(f.body.context);
    f.done[f.current] = 1;
    _longjmp(f.scheduler, 1);
}

// Switches are _setjmp/_longjmp (no signal-mask system calls, unlike swapcontext): a block's
// reduction tree is a few thousand of them.
inline void __syncthreads() {
    sc_emu_fibers_t& f = sc_emu_fibers;
    if (!f.active) {   // the generator said this kernel has no barrier
        sc_emu_fail(2, -1, 0, 0, 0);
        return;
    }
    if (_setjmp(f.threads[f.current]) == 0) {
        _longjmp(f.scheduler, 1);
    }
}

inline void sc_emu_run_block_fibers(unsigned int block, sc_emu_body body) {
    sc_emu_fibers_t& f = sc_emu_fibers;
    f.body = body;
    for (unsigned int t = 0; t < block; ++t) {
        if (f.stacks[t] == nullptr) {
            f.stacks[t] = static_cast<char*>(malloc(SC_EMU_STACK));
        }
        f.started[t] = 0;
        f.done[t] = 0;
        f.slots[t] = 0;
    }
    f.active = true;
    unsigned int alive = block;
    while (alive > 0) {   // one round: every live thread runs to its next barrier or its end
        for (unsigned int t = 0; t < block; ++t) {
            if (f.done[t]) {
                continue;
            }
            f.current = t;
            threadIdx.x = t;
            if (_setjmp(f.scheduler) == 0) {
                if (f.started[t]) {
                    _longjmp(f.threads[t], 1);
                }
                f.started[t] = 1;
                ucontext_t here;
                getcontext(&f.start);
                f.start.uc_stack.ss_sp = f.stacks[t];
                f.start.uc_stack.ss_size = SC_EMU_STACK;
                f.start.uc_link = nullptr;
                makecontext(&f.start, sc_emu_fiber_main, 0);
                swapcontext(&here, &f.start);   // never returns: the fiber longjmps back
            }
            if (f.done[t]) {
                --alive;
            }
        }
    }
    f.active = false;
}

// __shfl_xor_sync over a full warp: publish, barrier, read the partner's slot, barrier.
template <typename T>
T __shfl_xor_sync(unsigned int mask, T value, int lane_mask, int width = 32) {
    static_assert(sizeof(T) <= 8, "shuffle of a wide type");
    sc_emu_fibers_t& f = sc_emu_fibers;
    const unsigned int t = threadIdx.x;
    const unsigned int partner = t ^ (unsigned int)lane_mask;
    if (!f.active || mask != 0xffffffffu || width != 32 || blockDim.x % 32 != 0 ||
        partner >= blockDim.x) {
        sc_emu_fail(2, -1, (long long)partner, 0, 0);
        return value;
    }
    __builtin_memcpy(&f.slots[t], &value, sizeof(T));
    __syncthreads();
    T result;
    __builtin_memcpy(&result, &f.slots[partner], sizeof(T));
    __syncthreads();
    return result;
}

// ---- the grid ---------------------------------------------------------------------------
template <typename F>
void sc_emu_run_grid(unsigned int grid, unsigned int block, bool barriers, F& thread) {
    const sc_emu_body body = {[](void* c) { (*static_cast<F*>(c))(); }, &thread};
    sc_emu_error = sc_emu_error_t();
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned int b = 0; b < grid && sc_emu_error.code == 0; ++b) {
        blockIdx.x = b;
        if (barriers) {
            sc_emu_run_block_fibers(block, body);
        } else {
            for (unsigned int t = 0; t < block; ++t) {
                threadIdx.x = t;
                thread();
            }
        }
    }
}

extern "C" int sc_emu_take_error(long long* info) {
    const sc_emu_error_t e = sc_emu_error;
    info[0] = e.arg;
    info[1] = e.index;
    info[2] = e.lo;
    info[3] = e.hi;
    info[4] = e.block;
    info[5] = e.thread;
    sc_emu_error = sc_emu_error_t();
    return e.code;
}
