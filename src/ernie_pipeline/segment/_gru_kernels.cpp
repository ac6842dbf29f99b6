// Fused element-wise parts of one GRU time step for ernie_pipeline.lac_fast (the matrix products
// stay in NumPy/BLAS). One pass over the step's rows instead of a dozen NumPy calls, with an exp
// that the compiler vectorises. Inputs are pre-scaled as in lac_fast._BiGru: gate pre-activations
// are -z (sigmoid(z) = 1 / (1 + exp(-z))) and candidate pre-activations are -2z
// (tanh(z) = 2 / (1 + exp(-2z)) - 1).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace py = pybind11;
using Array = py::array_t<float>;  // arguments are .noconvert(): never a silent copy

namespace {

// The row loops are compiled twice, for AVX2 + FMA (where the exp loop vectorises) and for the
// baseline, and picked at run time, so one build runs on any x86-64 node. (GCC's target_clones
// does not vectorise these loops; an always-inlined body under two target attributes does.)
#define INLINE __attribute__((always_inline)) inline

// exp(x) to about 2 ulp (Cephes expf: range reduction by ln 2, degree-5 polynomial); inputs are
// clamped to the finite range, so exp never overflows to inf.
INLINE float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

struct Rows {
  float* data;
  ssize_t stride;  // in floats
  ssize_t rows, cols;
};

Rows rows_of(Array& a, const char* name) {
  if (a.ndim() != 2 || a.strides(1) != static_cast<ssize_t>(sizeof(float)) || a.strides(0) % sizeof(float))
    throw std::invalid_argument(std::string(name) + ": a 2-D float32 array with contiguous rows is required");
  return {a.mutable_data(), a.strides(0) / static_cast<ssize_t>(sizeof(float)), a.shape(0), a.shape(1)};
}

INLINE void gates_rows(float* gates, ssize_t gates_stride, const float* x, ssize_t x_stride, const float* h,
                               ssize_t h_stride, float* reset_h, ssize_t rh_stride, ssize_t n, ssize_t d) {
  for (ssize_t i = 0; i < n; ++i) {
    float* g = gates + i * gates_stride;
    const float* xi = x + i * x_stride;
    for (ssize_t j = 0; j < 2 * d; ++j) g[j] = 1.0f / (1.0f + exp_approx(g[j] + xi[j]));
    const float* hi = h + i * h_stride;
    float* rh = reset_h + i * rh_stride;
    for (ssize_t j = 0; j < d; ++j) rh[j] = g[d + j] * hi[j];
  }
}

INLINE void candidate_rows(const float* cand, ssize_t cand_stride, const float* x, ssize_t x_stride,
                                   const float* gates, ssize_t gates_stride, const float* h, ssize_t h_stride,
                                   float* new_h, ssize_t new_h_stride, ssize_t n, ssize_t d) {
  for (ssize_t i = 0; i < n; ++i) {
    const float* c = cand + i * cand_stride;
    const float* xc = x + i * x_stride + 2 * d;
    const float* u = gates + i * gates_stride;
    const float* hi = h + i * h_stride;
    float* out = new_h + i * new_h_stride;
    for (ssize_t j = 0; j < d; ++j) {
      const float t = 2.0f / (1.0f + exp_approx(c[j] + xc[j])) - 1.0f;
      out[j] = hi[j] + u[j] * (t - hi[j]);
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define AVX2_VARIANT(name)                                                                    \
  template <typename... Args>                                                                 \
  __attribute__((target("avx2,fma"))) void name##_avx2(Args... args) { name(args...); }
AVX2_VARIANT(gates_rows)
AVX2_VARIANT(candidate_rows)
const bool kAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#define DISPATCH(name, ...) (kAvx2 ? name##_avx2(__VA_ARGS__) : name(__VA_ARGS__))
#else
#define DISPATCH(name, ...) name(__VA_ARGS__)
#endif

// gates <- sigmoid = 1 / (1 + exp(gates + x[:, :2D])); reset_h <- r * h (r = gates[:, D:]).
void gates_step(Array gates_a, Array x_a, Array h_a, Array reset_h_a) {
  Rows gates = rows_of(gates_a, "gates"), x = rows_of(x_a, "x"), h = rows_of(h_a, "h"),
       reset_h = rows_of(reset_h_a, "reset_h");
  const ssize_t n = gates.rows, d = h.cols;
  if (gates.cols != 2 * d || x.rows < n || x.cols < 2 * d || h.rows < n || reset_h.rows < n || reset_h.cols != d)
    throw std::invalid_argument("gates_step: inconsistent shapes");
  py::gil_scoped_release release;
  DISPATCH(gates_rows, gates.data, gates.stride, x.data, x.stride, h.data, h.stride, reset_h.data, reset_h.stride, n, d);
}

// new_h <- h + u * (tanh - h), tanh = 2 / (1 + exp(cand + x[:, 2D:])) - 1, u = gates[:, :D].
void candidate_step(Array cand_a, Array x_a, Array gates_a, Array h_a, Array new_h_a) {
  Rows cand = rows_of(cand_a, "cand"), x = rows_of(x_a, "x"), gates = rows_of(gates_a, "gates"),
       h = rows_of(h_a, "h"), new_h = rows_of(new_h_a, "new_h");
  const ssize_t n = cand.rows, d = cand.cols;
  if (x.rows < n || x.cols < 3 * d || gates.rows < n || gates.cols != 2 * d || h.rows < n || h.cols != d ||
      new_h.rows < n || new_h.cols != d)
    throw std::invalid_argument("candidate_step: inconsistent shapes");
  py::gil_scoped_release release;
  DISPATCH(candidate_rows, cand.data, cand.stride, x.data, x.stride, gates.data, gates.stride, h.data, h.stride, new_h.data,
                 new_h.stride, n, d);
}

}  // namespace

PYBIND11_MODULE(_gru_kernels, m) {
  m.doc() = "Fused element-wise GRU step kernels for ernie_pipeline.lac_fast";
  m.def("gates_step", &gates_step, py::arg("gates").noconvert(), py::arg("x").noconvert(),
        py::arg("h").noconvert(), py::arg("reset_h").noconvert());
  m.def("candidate_step", &candidate_step, py::arg("cand").noconvert(), py::arg("x").noconvert(),
        py::arg("gates").noconvert(), py::arg("h").noconvert(), py::arg("new_h").noconvert());
}
