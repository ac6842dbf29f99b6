// LAC's bidirectional GRU layers for ernie_pipeline.segment.bigru_crf, in C++:
//
// * the fused element-wise parts of one GRU time step (one pass over the step's rows instead of a dozen
//   NumPy calls, with an exp the compiler vectorises), compiled for AVX-512, AVX2 + FMA and the baseline
//   and picked at run time, so one build runs on any x86-64 node;
// * whole layers (`bigru`): every time step's two matrix products through Intel MKL, whose dispatch follows
//   the CPU's features (the libmklml_intel.so that paddlepaddle ships, opened with dlopen: nothing to link,
//   nothing to install), the recurrent weights packed once per layer (cblas_sgemm_pack), one thread.
//   NumPy's OpenBLAS picks its kernel by CPU model and falls back to SSE3 on models it does not know, so
//   the same products ran 2.7x slower on some nodes; without MKL the Python side keeps NumPy.
//
// Inputs are pre-scaled as in bigru_crf._BiGru: gate pre-activations are -z (sigmoid(z) = 1 / (1 + exp(-z)))
// and candidate pre-activations are -2z (tanh(z) = 2 / (1 + exp(-2z)) - 1).
#include <dlfcn.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;
using Array = py::array_t<float>;  // arguments are .noconvert(): never a silent copy

namespace {

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
                           const float* gates, ssize_t gates_stride, const float* h, ssize_t h_stride, float* new_h,
                           ssize_t new_h_stride, ssize_t n, ssize_t d) {
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

// One row of a step inside a whole layer: its input row ``x`` (3D wide) plus ``bias`` (3D), gates ``g`` (2D) from
// the recurrent product; the new state goes to the recurrence's buffer and to the layer's output row.
// (__restrict__: the buffers never overlap; without it GCC gives up vectorising for the many alias checks)
INLINE void gates_row(float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ bias,
                      const float* __restrict__ h, float* __restrict__ reset_h, ssize_t d) {
  for (ssize_t j = 0; j < 2 * d; ++j) g[j] = 1.0f / (1.0f + exp_approx(g[j] + x[j] + bias[j]));
  for (ssize_t j = 0; j < d; ++j) reset_h[j] = g[d + j] * h[j];
}

INLINE void candidate_row(const float* __restrict__ c, const float* __restrict__ x, const float* __restrict__ bias,
                          const float* __restrict__ u, const float* __restrict__ h, float* __restrict__ state,
                          float* __restrict__ out, ssize_t d) {
  for (ssize_t j = 0; j < d; ++j) {
    const float t = 2.0f / (1.0f + exp_approx(c[j] + x[2 * d + j] + bias[2 * d + j])) - 1.0f;
    const float value = h[j] + u[j] * (t - h[j]);
    state[j] = value;
    out[j] = value;
  }
}

// The row loops compiled three times, picked at run time. (GCC's target_clones does not vectorise these
// loops; an always-inlined body under each target attribute does. AVX-512 needs prefer-vector-width=512:
// GCC otherwise keeps 256-bit vectors on those targets.)
#if defined(__x86_64__) && defined(__GNUC__)
#define VARIANT(name, suffix, target_spec)                                       \
  template <typename... Args>                                                    \
  __attribute__((target(target_spec))) void name##_##suffix(Args... args) { name(args...); }
VARIANT(gates_rows, avx2, "avx2,fma")
VARIANT(candidate_rows, avx2, "avx2,fma")
VARIANT(gates_rows, avx512, "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")
VARIANT(candidate_rows, avx512, "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")
enum class Isa { baseline, avx2, avx512 };
const Isa kIsa = (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                  __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
                     ? Isa::avx512
                 : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? Isa::avx2
                                                                                     : Isa::baseline;
#define DISPATCH(name, ...)                                                                 \
  (kIsa == Isa::avx512 ? name##_avx512(__VA_ARGS__)                                         \
   : kIsa == Isa::avx2 ? name##_avx2(__VA_ARGS__)                                           \
                       : name(__VA_ARGS__))
const char* isa_name() { return kIsa == Isa::avx512 ? "avx512" : kIsa == Isa::avx2 ? "avx2" : "baseline"; }
#else
#define DISPATCH(name, ...) name(__VA_ARGS__)
const char* isa_name() { return "baseline"; }
#endif

// gates <- sigmoid = 1 / (1 + exp(gates + x[:, :2D])); reset_h <- r * h (r = gates[:, D:]).
void gates_step(Array gates_a, Array x_a, Array h_a, Array reset_h_a) {
  Rows gates = rows_of(gates_a, "gates"), x = rows_of(x_a, "x"), h = rows_of(h_a, "h"),
       reset_h = rows_of(reset_h_a, "reset_h");
  const ssize_t n = gates.rows, d = h.cols;
  if (gates.cols != 2 * d || x.rows < n || x.cols < 2 * d || h.rows < n || reset_h.rows < n || reset_h.cols != d)
    throw std::invalid_argument("gates_step: inconsistent shapes");
  py::gil_scoped_release release;
  DISPATCH(gates_rows, gates.data, gates.stride, x.data, x.stride, h.data, h.stride, reset_h.data, reset_h.stride, n,
           d);
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
  DISPATCH(candidate_rows, cand.data, cand.stride, x.data, x.stride, gates.data, gates.stride, h.data, h.stride,
           new_h.data, new_h.stride, n, d);
}

// ---- MKL, opened at run time ----
// CBLAS constants (mkl_cblas.h)
constexpr int kRowMajor = 101, kNoTrans = 111, kPacked = 151, kBMatrix = 162;

struct Mkl {
  void (*sgemm)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int) = nullptr;
  size_t (*pack_get_size)(int, int, int, int) = nullptr;
  void (*pack)(int, int, int, int, int, int, float, const float*, int, float*) = nullptr;
  void (*compute)(int, int, int, int, int, int, const float*, int, const float*, int, float, float*, int) = nullptr;
  int (*set_threads_local)(int) = nullptr;
  void (*version)(char*, int) = nullptr;
  bool loaded() const { return sgemm != nullptr; }
};
Mkl mkl;

template <typename F>
void symbol(void* library, const char* name, F& target) {
  void* found = dlsym(library, name);
  if (!found) throw std::runtime_error(std::string("MKL has no ") + name + ": " + dlerror());
  target = reinterpret_cast<F>(found);
}

// Open libmklml_intel.so (and the OpenMP runtime it needs, libiomp5.so) from ``folder``; MKL's version.
std::string load_mkl(const std::string& folder) {
  if (!mkl.loaded()) {
    // libiomp5 first and global: libmklml_intel.so needs it by name, and the folder is on no search path
    if (!dlopen((folder + "/libiomp5.so").c_str(), RTLD_NOW | RTLD_GLOBAL))
      throw std::runtime_error(std::string("cannot open libiomp5.so: ") + dlerror());
    void* library = dlopen((folder + "/libmklml_intel.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library) throw std::runtime_error(std::string("cannot open libmklml_intel.so: ") + dlerror());
    Mkl found;
    symbol(library, "cblas_sgemm_pack_get_size", found.pack_get_size);
    symbol(library, "cblas_sgemm_pack", found.pack);
    symbol(library, "cblas_sgemm_compute", found.compute);
    symbol(library, "MKL_Set_Num_Threads_Local", found.set_threads_local);
    symbol(library, "MKL_Get_Version_String", found.version);
    symbol(library, "cblas_sgemm", found.sgemm);
    mkl = found;
  }
  char version[256] = {0};
  mkl.version(version, sizeof version - 1);
  return version;
}

void require_mkl() {
  if (!mkl.loaded()) throw std::runtime_error("MKL is not loaded (load_mkl first)");
}

// MKL on this thread only, for the duration of a call: one thread (Snakemake runs a job per core).
struct OneThread {
  int previous;
  OneThread() : previous(mkl.set_threads_local(1)) {}
  ~OneThread() { mkl.set_threads_local(previous); }
};

// out <- a @ b (float32, C-contiguous rows).
void sgemm(Array a_a, Array b_a, Array out_a) {
  require_mkl();
  Rows a = rows_of(a_a, "a"), b = rows_of(b_a, "b"), out = rows_of(out_a, "out");
  if (a.cols != b.rows || out.rows != a.rows || out.cols != b.cols) throw std::invalid_argument("sgemm: shapes");
  py::gil_scoped_release release;
  OneThread one;
  mkl.sgemm(kRowMajor, kNoTrans, kNoTrans, a.rows, b.cols, a.cols, 1.0f, a.data, a.stride, b.data, b.stride, 0.0f,
            out.data, out.stride);
}

// One direction of a layer: every time step's two products through MKL (packed recurrent weights), then the
// step's rows. Row r of the packed time-major order (``steps[t]`` rows at step t) stands for position p = r
// (forward) or p = mirror[r] (backward: each sequence reversed); its input is row input_rows[p] of ``inputs``
// (identity where input_rows is null) from column dir * 3D, its state goes to out[p, dir * D : (dir + 1) * D].
struct Direction {
  const float* inputs;
  ssize_t input_stride;
  const int64_t* input_rows;
  const int64_t* mirror;
  const float* bias;
  const int64_t* steps;
  ssize_t num_steps;
  const float* packed_gates;
  const float* packed_cand;
  float* states;  // [N, D]: the recurrence's own, time-major
  float* gates;
  float* cand;
  float* reset_h;
  const float* initial;
  float* out;
  ssize_t out_stride;
  ssize_t d;
  int dir;
};

INLINE void direction_pass(const Direction& a) {
  const ssize_t d = a.d;
  const float* h = a.initial;
  ssize_t row = 0;
  for (ssize_t t = 0; t < a.num_steps; ++t) {  // one step of every sequence still running
    const int n = static_cast<int>(a.steps[t]);
    mkl.compute(kRowMajor, kNoTrans, kPacked, n, 2 * d, d, h, d, a.packed_gates, 2 * d, 0.0f, a.gates, 2 * d);
    for (int i = 0; i < n; ++i) {
      const ssize_t p = a.dir ? a.mirror[row + i] : row + i;
      const float* x = a.inputs + (a.input_rows ? a.input_rows[p] : p) * a.input_stride + a.dir * 3 * d;
      gates_row(a.gates + i * 2 * d, x, a.bias, h + i * d, a.reset_h + i * d, d);
    }
    mkl.compute(kRowMajor, kNoTrans, kPacked, n, d, d, a.reset_h, d, a.packed_cand, d, 0.0f, a.cand, d);
    for (int i = 0; i < n; ++i) {
      const ssize_t p = a.dir ? a.mirror[row + i] : row + i;
      const float* x = a.inputs + (a.input_rows ? a.input_rows[p] : p) * a.input_stride + a.dir * 3 * d;
      candidate_row(a.cand + i * d, x, a.bias, a.gates + i * 2 * d, h + i * d, a.states + (row + i) * d,
                    a.out + p * a.out_stride + a.dir * d, d);
    }
    h = a.states + row * d;
    row += n;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
VARIANT(direction_pass, avx2, "avx2,fma")
VARIANT(direction_pass, avx512, "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")
#endif

// One bidirectional GRU layer (bigru_crf._BiGru), both directions, through MKL, one thread. ``inputs`` [M, 6D]: the
// scaled input projections, forward in columns 0..3D, backward in 3D..6D, row input_rows[p] for position p
// (None: row p); ``bias`` [6D] added to them; ``active``: rows per time step (sequences sorted by decreasing
// length, packed time-major); ``mirror``: the packed row of the same sequence's mirrored position; ``w_gates``
// [2, D, 2D], ``w_cand`` [2, D, D]. Writes ``out`` [N, 2D]: each position's forward then backward state.
void bigru(py::array_t<float, py::array::c_style> inputs, std::optional<py::array_t<int64_t, py::array::c_style>> input_rows,
           py::array_t<float, py::array::c_style> bias, py::array_t<int64_t, py::array::c_style> active,
           py::array_t<int64_t, py::array::c_style> mirror, py::array_t<float, py::array::c_style> w_gates,
           py::array_t<float, py::array::c_style> w_cand, py::array_t<float, py::array::c_style> out) {
  require_mkl();
  if (inputs.ndim() != 2 || bias.ndim() != 1 || active.ndim() != 1 || mirror.ndim() != 1 || w_gates.ndim() != 3 ||
      w_cand.ndim() != 3 || out.ndim() != 2)
    throw std::invalid_argument("bigru: inputs and out are 2-D, bias, active and mirror 1-D, the weights 3-D");
  const ssize_t d = w_cand.shape(1), rows = out.shape(0);
  if (inputs.shape(1) != 6 * d || bias.shape(0) != 6 * d || w_gates.shape(0) != 2 || w_gates.shape(1) != d ||
      w_gates.shape(2) != 2 * d || w_cand.shape(0) != 2 || w_cand.shape(2) != d || out.shape(1) != 2 * d ||
      mirror.shape(0) != rows)
    throw std::invalid_argument("bigru: inconsistent shapes");
  const int64_t* rows_of_inputs = nullptr;
  if (input_rows) {
    if (input_rows->ndim() != 1 || input_rows->shape(0) != rows)
      throw std::invalid_argument("bigru: input_rows must hold one row per position");
    rows_of_inputs = input_rows->data();
    for (ssize_t p = 0; p < rows; ++p)
      if (rows_of_inputs[p] < 0 || rows_of_inputs[p] >= inputs.shape(0))
        throw std::invalid_argument("bigru: input_rows out of range");
  } else if (inputs.shape(0) != rows) {
    throw std::invalid_argument("bigru: without input_rows, inputs has one row per position");
  }
  const int64_t* steps = active.data();
  const ssize_t num_steps = active.shape(0);
  int64_t total = 0;
  for (ssize_t t = 0; t < num_steps; ++t) {
    if (steps[t] <= 0 || (t && steps[t] > steps[t - 1])) throw std::invalid_argument("bigru: active must not grow");
    total += steps[t];
  }
  if (total != rows) throw std::invalid_argument("bigru: active does not add up to the positions of out");
  const int64_t* mirrored = mirror.data();
  for (ssize_t r = 0; r < rows; ++r)
    if (mirrored[r] < 0 || mirrored[r] >= rows) throw std::invalid_argument("bigru: mirror out of range");

  py::gil_scoped_release release;
  OneThread one;
  const int batch = num_steps ? static_cast<int>(steps[0]) : 0;
  std::vector<float> gates(static_cast<size_t>(batch) * 2 * d), cand(static_cast<size_t>(batch) * d),
      reset_h(static_cast<size_t>(batch) * d), initial(static_cast<size_t>(batch) * d, 0.0f),
      states(static_cast<size_t>(rows) * d);
  std::vector<float> packed_gates(mkl.pack_get_size(kBMatrix, batch, 2 * d, d) / sizeof(float) + 1),
      packed_cand(mkl.pack_get_size(kBMatrix, batch, d, d) / sizeof(float) + 1);
  for (int dir = 0; dir < 2; ++dir) {
    mkl.pack(kRowMajor, kBMatrix, kNoTrans, batch, 2 * d, d, 1.0f, w_gates.data() + dir * d * 2 * d, 2 * d,
             packed_gates.data());
    mkl.pack(kRowMajor, kBMatrix, kNoTrans, batch, d, d, 1.0f, w_cand.data() + dir * d * d, d, packed_cand.data());
    const Direction pass{inputs.data(), inputs.shape(1), rows_of_inputs, mirrored, bias.data() + dir * 3 * d, steps,
                         num_steps, packed_gates.data(), packed_cand.data(), states.data(), gates.data(),
                         cand.data(), reset_h.data(), initial.data(), out.mutable_data(), 2 * d, d, dir};
    DISPATCH(direction_pass, pass);
  }
}

}  // namespace

PYBIND11_MODULE(_gru_kernels, m) {
  m.doc() = "LAC's GRU layers for ernie_pipeline.segment.bigru_crf: fused activations, whole layers through MKL";
  m.def("gates_step", &gates_step, py::arg("gates").noconvert(), py::arg("x").noconvert(),
        py::arg("h").noconvert(), py::arg("reset_h").noconvert());
  m.def("candidate_step", &candidate_step, py::arg("cand").noconvert(), py::arg("x").noconvert(),
        py::arg("gates").noconvert(), py::arg("h").noconvert(), py::arg("new_h").noconvert());
  m.def("kernel_isa", &isa_name, "The activation kernels' instruction set on this CPU: avx512, avx2 or baseline");
  m.def("load_mkl", &load_mkl, py::arg("folder"), "Open libmklml_intel.so from folder; its version string");
  m.def("mkl_loaded", [] { return mkl.loaded(); });
  m.def("sgemm", &sgemm, py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("out").noconvert(),
        "out <- a @ b through MKL, one thread");
  m.def("bigru", &bigru, py::arg("inputs").noconvert(), py::arg("input_rows").noconvert(), py::arg("bias").noconvert(),
        py::arg("active").noconvert(), py::arg("mirror").noconvert(), py::arg("w_gates").noconvert(),
        py::arg("w_cand").noconvert(), py::arg("out").noconvert(),
        "One bidirectional GRU layer through MKL, one thread (see the C++ comment)");
}
