// LAC's seg model (ernie_pipeline.segment.bigru_crf) in C++:
//
// * the fused element-wise parts of one GRU time step (one pass over the step's rows instead of a dozen
//   NumPy calls, with an exp the compiler vectorises), compiled for AVX-512, AVX2 + FMA, AVX and the
//   baseline and picked at run time, so one build runs on any x86-64 node;
// * the whole model (`SegModel`: two bidirectional GRU layers, the emission layer, Viterbi) over blocks of
//   sequences, every product through Intel MKL, whose dispatch follows the CPU's features (the
//   libmklml_intel.so that paddlepaddle ships, opened with dlopen: nothing to link, nothing to install), the
//   weights packed once (cblas_sgemm_pack), one thread. NumPy's OpenBLAS picks its kernel by CPU model and
//   falls back to SSE3 on models it does not know, so the same products ran 2.7x slower on some nodes;
//   without MKL the Python side keeps NumPy.
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
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;
using Array = py::array_t<float>;  // arguments are .noconvert(): never a silent copy

namespace {

#define INLINE __attribute__((always_inline)) inline

// exp(x) to about 2 ulp (Cephes expf: range reduction by ln 2, degree-5 polynomial); inputs are
// clamped to the finite range, so exp never overflows to inf. n = x / ln 2 rounded to the nearest integer by
// adding and subtracting 1.5 * 2^23 (std::floor is a library call before SSE4.1: the baseline build would
// not vectorise).
INLINE float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
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

// One row of a GRU step: its input row ``x`` (3D wide) plus ``bias`` (3D), gates ``g`` (2D) from the recurrent
// product, state ``h``; writes the gates, r * h and the new state.
// (__restrict__: the buffers never overlap; without it GCC gives up vectorising for the many alias checks)
INLINE void gates_row(float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ bias,
                      const float* __restrict__ h, float* __restrict__ reset_h, ssize_t d) {
  for (ssize_t j = 0; j < 2 * d; ++j) g[j] = 1.0f / (1.0f + exp_approx(g[j] + x[j] + bias[j]));
  for (ssize_t j = 0; j < d; ++j) reset_h[j] = g[d + j] * h[j];
}

INLINE void candidate_row(const float* __restrict__ c, const float* __restrict__ x, const float* __restrict__ bias,
                          const float* __restrict__ u, const float* __restrict__ h, float* __restrict__ new_h,
                          ssize_t d) {
  for (ssize_t j = 0; j < d; ++j) {
    const float t = 2.0f / (1.0f + exp_approx(c[j] + x[2 * d + j] + bias[2 * d + j])) - 1.0f;
    new_h[j] = h[j] + u[j] * (t - h[j]);
  }
}

// The rows of a step as NumPy's step-by-step layer holds them (strided; ``zeros``: a bias of 3D zeros).
INLINE void gates_rows(float* gates, ssize_t gates_stride, const float* x, ssize_t x_stride, const float* h,
                       ssize_t h_stride, float* reset_h, ssize_t rh_stride, const float* zeros, ssize_t n, ssize_t d) {
  for (ssize_t i = 0; i < n; ++i)
    gates_row(gates + i * gates_stride, x + i * x_stride, zeros, h + i * h_stride, reset_h + i * rh_stride, d);
}

INLINE void candidate_rows(const float* cand, ssize_t cand_stride, const float* x, ssize_t x_stride,
                           const float* gates, ssize_t gates_stride, const float* h, ssize_t h_stride, float* new_h,
                           ssize_t new_h_stride, const float* zeros, ssize_t n, ssize_t d) {
  for (ssize_t i = 0; i < n; ++i)
    candidate_row(cand + i * cand_stride, x + i * x_stride, zeros, gates + i * gates_stride, h + i * h_stride,
                  new_h + i * new_h_stride, d);
}

// The row loops compiled four times, picked at run time. (GCC's target_clones does not vectorise these
// loops; an always-inlined body under each target attribute does. AVX-512 needs prefer-vector-width=512:
// GCC otherwise keeps 256-bit vectors on those targets.)
#if defined(__x86_64__) && defined(__GNUC__)
#define VARIANT(name, suffix, target_spec)                                       \
  template <typename... Args>                                                    \
  __attribute__((target(target_spec))) void name##_##suffix(Args... args) { name(args...); }
VARIANT(gates_rows, avx, "avx")
VARIANT(candidate_rows, avx, "avx")
VARIANT(gates_rows, avx2, "avx2,fma")
VARIANT(candidate_rows, avx2, "avx2,fma")
VARIANT(gates_rows, avx512, "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")
VARIANT(candidate_rows, avx512, "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")
enum class Isa { baseline, avx, avx2, avx512 };
const char* const kIsaNames[] = {"baseline", "avx", "avx2", "avx512"};
const Isa kWidestIsa = (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
                           ? Isa::avx512
                       : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? Isa::avx2
                       : __builtin_cpu_supports("avx")                                      ? Isa::avx
                                                                                            : Isa::baseline;
Isa isa = kWidestIsa;  // the widest this CPU runs, unless use_isa picked a narrower one (tests, benchmarks)
#define DISPATCH(name, ...)                                                                \
  (isa == Isa::avx512 ? name##_avx512(__VA_ARGS__)                                         \
   : isa == Isa::avx2 ? name##_avx2(__VA_ARGS__)                                           \
   : isa == Isa::avx  ? name##_avx(__VA_ARGS__)                                            \
                      : name(__VA_ARGS__))
const char* isa_name() { return kIsaNames[static_cast<int>(isa)]; }
void use_isa(const std::string& name) {
  const auto found = std::find(std::begin(kIsaNames), std::end(kIsaNames), name);
  if (found == std::end(kIsaNames) || static_cast<Isa>(found - std::begin(kIsaNames)) > kWidestIsa)
    throw std::invalid_argument("use_isa: " + name + " is not one of the instruction sets this CPU runs");
  isa = static_cast<Isa>(found - std::begin(kIsaNames));
}
#else
#define DISPATCH(name, ...) name(__VA_ARGS__)
const char* isa_name() { return "baseline"; }
void use_isa(const std::string& name) {
  if (name != "baseline") throw std::invalid_argument("use_isa: only the baseline kernels are built here");
}
#endif

// gates <- sigmoid = 1 / (1 + exp(gates + x[:, :2D])); reset_h <- r * h (r = gates[:, D:]).
void gates_step(Array gates_a, Array x_a, Array h_a, Array reset_h_a) {
  Rows gates = rows_of(gates_a, "gates"), x = rows_of(x_a, "x"), h = rows_of(h_a, "h"),
       reset_h = rows_of(reset_h_a, "reset_h");
  const ssize_t n = gates.rows, d = h.cols;
  if (gates.cols != 2 * d || x.rows < n || x.cols < 2 * d || h.rows < n || reset_h.rows < n || reset_h.cols != d)
    throw std::invalid_argument("gates_step: inconsistent shapes");
  const std::vector<float> zeros(3 * d, 0.0f);
  py::gil_scoped_release release;
  DISPATCH(gates_rows, gates.data, gates.stride, x.data, x.stride, h.data, h.stride, reset_h.data, reset_h.stride,
           zeros.data(), n, d);
}

// new_h <- h + u * (tanh - h), tanh = 2 / (1 + exp(cand + x[:, 2D:])) - 1, u = gates[:, :D].
void candidate_step(Array cand_a, Array x_a, Array gates_a, Array h_a, Array new_h_a) {
  Rows cand = rows_of(cand_a, "cand"), x = rows_of(x_a, "x"), gates = rows_of(gates_a, "gates"),
       h = rows_of(h_a, "h"), new_h = rows_of(new_h_a, "new_h");
  const ssize_t n = cand.rows, d = cand.cols;
  if (x.rows < n || x.cols < 3 * d || gates.rows < n || gates.cols != 2 * d || h.rows < n || h.cols != d ||
      new_h.rows < n || new_h.cols != d)
    throw std::invalid_argument("candidate_step: inconsistent shapes");
  const std::vector<float> zeros(3 * d, 0.0f);
  py::gil_scoped_release release;
  DISPATCH(candidate_rows, cand.data, cand.stride, x.data, x.stride, gates.data, gates.stride, h.data, h.stride,
           new_h.data, new_h.stride, zeros.data(), n, d);
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
  OneThread() : previous(mkl.loaded() ? mkl.set_threads_local(1) : 0) {}
  ~OneThread() {
    if (mkl.loaded()) mkl.set_threads_local(previous);
  }
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

// ---- NumPy's OpenBLAS, opened at run time (where it is faster than MKL: e.g. MKL 2019 on AMD CPUs) ----
struct OpenBlas {
  // cblas_sgemm of NumPy's ILP64 build (cblas_sgemm64_, 64-bit sizes) or of a 32-bit-index build
  void (*sgemm64)(int, int, int, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
                  float*, int64_t) = nullptr;
  void (*sgemm32)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int) = nullptr;
  bool loaded() const { return sgemm64 || sgemm32; }
  void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
             int64_t ldc) const {
    if (sgemm64)
      sgemm64(kRowMajor, kNoTrans, kNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    else
      sgemm32(kRowMajor, kNoTrans, kNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f, c, static_cast<int>(ldc));
  }
};
OpenBlas openblas;

// Open the OpenBLAS library at ``path`` (NumPy's, as threadpoolctl finds it; already loaded by NumPy) for the
// engine. Its threads are the caller's to limit (threadpoolctl), as NumPy's setting is process-wide.
void load_openblas(const std::string& path) {
  if (openblas.loaded()) return;
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) throw std::runtime_error("cannot open " + path + ": " + dlerror());
  OpenBlas found;
  if (void* wide = dlsym(library, "cblas_sgemm64_"))
    found.sgemm64 = reinterpret_cast<decltype(found.sgemm64)>(wide);
  else
    symbol(library, "cblas_sgemm", found.sgemm32);
  openblas = found;
}

enum class Blas { mkl, openblas };

Blas blas_named(const std::string& name) {
  if (name == "mkl") {
    require_mkl();
    return Blas::mkl;
  }
  if (name == "openblas") {
    if (!openblas.loaded()) throw std::runtime_error("OpenBLAS is not loaded (load_openblas first)");
    return Blas::openblas;
  }
  throw std::invalid_argument("blas must be mkl or openblas, not " + name);
}

// ---- LAC's whole seg model over blocks of sequences ----
// Sequences (sorted by decreasing length) go through the model in blocks of about ``block_chars`` characters:
// both GRU layers, the emission layer and Viterbi, before the next block starts, so a block's states,
// features and scores stay in the core's caches instead of crossing memory as whole-batch arrays. Inside a
// block the positions are packed time-major: step t's rows are those of the block's sequences longer than t
// (a prefix of the block), so every time step is one product over the rows still running.

// A right-hand matrix [k, n] of the engine's products: packed once for MKL's compute (the packed buffer must not
// move: not copyable), or kept row-major for OpenBLAS.
class Weight {
 public:
  Weight(Blas blas, int m, int n, int k, const float* src, int ld) : blas_(blas), n_(n), k_(k) {
    if (blas == Blas::mkl) {
      data_.resize(mkl.pack_get_size(kBMatrix, m, n, k) / sizeof(float) + 1);
      mkl.pack(kRowMajor, kBMatrix, kNoTrans, m, n, k, 1.0f, src, ld, data_.data());
    } else {
      data_.resize(static_cast<size_t>(k) * n);
      for (int row = 0; row < k; ++row) std::copy(src + row * ld, src + row * ld + n, data_.data() + row * n);
    }
  }
  Weight(const Weight&) = delete;
  Weight& operator=(const Weight&) = delete;

  // out[m, n] <- a[m, k] @ this
  void product(int m, const float* a, float* out) const {
    if (blas_ == Blas::mkl)
      mkl.compute(kRowMajor, kNoTrans, kPacked, m, n_, k_, a, k_, data_.data(), n_, 0.0f, out, n_);
    else
      openblas.sgemm(m, n_, k_, a, k_, data_.data(), n_, out, n_);
  }

 private:
  Blas blas_;
  int n_, k_;
  std::vector<float> data_;
};

// The block's packed layout: ``running[t]`` sequences are longer than t; step t's rows start at ``first[t]``.
struct Block {
  const int32_t* ids;      // all characters, sequence after sequence
  const int64_t* lengths;  // of the block's sequences, non-increasing
  const int64_t* starts;   // each one's first character in ``ids``
  int count = 0;
  std::vector<int64_t> first;
  std::vector<int> running;
  int64_t rows = 0;

  void layout() {
    const int64_t steps = count ? lengths[0] : 0;
    running.assign(steps, 0);
    first.assign(steps, 0);
    for (int i = 0; i < count; ++i)
      for (int64_t t = 0; t < lengths[i]; ++t) ++running[t];
    rows = 0;
    for (int64_t t = 0; t < steps; ++t) {
      first[t] = rows;
      rows += running[t];
    }
  }
};

// One direction of one layer's weights (scaled as in bigru_crf._BiGru).
struct Direction {
  std::unique_ptr<Weight> input;  // layer 2: [2D, 3D] input projection (layer 1 reads a table instead)
  std::unique_ptr<Weight> gates;  // [D, 2D]
  std::unique_ptr<Weight> cand;   // [D, D]
  std::vector<float> bias;        // [3D], added to the projected input
};

// Per-block working memory, sized for the largest block.
struct Scratch {
  std::vector<float> h, next_h, gates, reset_h, cand, inputs, projected;
  std::vector<int64_t> positions, rows;
  std::vector<float> features, hidden, emissions;  // [rows, 2D] after layer 1 and 2, [rows, tags]
};

// One direction of one layer over a block. Layer 1 (``table`` set): row ids[c] of the [V, 6D] table of
// projected characters; layer 2: the rows of ``features`` [rows, 2D] projected here, step by step. Writes each
// position's state into columns dir * D of ``out`` [rows, 2D].
struct Pass {
  const Block* block;
  const Direction* weights;
  int dir;
  ssize_t d;
  const float* table;
  const float* features;
  Scratch* scratch;
  float* out;
};

INLINE void layer_pass(const Pass& a) {
  const Block& block = *a.block;
  const ssize_t d = a.d;
  Scratch& s = *a.scratch;
  float* h = s.h.data();
  float* next_h = s.next_h.data();
  std::fill(h, h + block.count * d, 0.0f);
  const float* bias = a.weights->bias.data();
  for (size_t t = 0; t < block.running.size(); ++t) {  // one step of every sequence still running
    const int n = block.running[t];
    int64_t* positions = s.positions.data();  // each running sequence's position at this step
    int64_t* rows = s.rows.data();            // and its packed row
    for (int i = 0; i < n; ++i) {
      positions[i] = a.dir ? block.lengths[i] - 1 - static_cast<int64_t>(t) : static_cast<int64_t>(t);
      rows[i] = block.first[positions[i]] + i;
    }
    if (!a.table) {  // layer 2: this step's input rows through the input projection
      const float* inputs = a.features + block.first[t] * 2 * d;  // forward: the step's rows are contiguous
      if (a.dir) {
        float* gathered = s.inputs.data();
        for (int i = 0; i < n; ++i) std::memcpy(gathered + i * 2 * d, a.features + rows[i] * 2 * d, 2 * d * sizeof(float));
        inputs = gathered;
      }
      a.weights->input->product(n, inputs, s.projected.data());
    }
    const auto input_row = [&](int i) {
      return a.table ? a.table + static_cast<int64_t>(block.ids[block.starts[i] + positions[i]]) * 6 * d + a.dir * 3 * d
                     : s.projected.data() + i * 3 * d;
    };
    a.weights->gates->product(n, h, s.gates.data());
    for (int i = 0; i < n; ++i) gates_row(s.gates.data() + i * 2 * d, input_row(i), bias, h + i * d, s.reset_h.data() + i * d, d);
    a.weights->cand->product(n, s.reset_h.data(), s.cand.data());
    for (int i = 0; i < n; ++i) {
      candidate_row(s.cand.data() + i * d, input_row(i), bias, s.gates.data() + i * 2 * d, h + i * d, next_h + i * d, d);
      std::memcpy(a.out + rows[i] * 2 * d + a.dir * d, next_h + i * d, d * sizeof(float));
    }
    std::swap(h, next_h);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
VARIANT(layer_pass, avx, "avx")
VARIANT(layer_pass, avx2, "avx2,fma")
VARIANT(layer_pass, avx512, "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")
#endif

// Paddle's crf_decoding on one sequence's emissions [length, K] (the NumPy version: bigru_crf.viterbi, same
// float32 operations in the same order, ties to the lower tag as argmax): its tags, and the path's margin, the
// smallest gap between a decision along it and the best other choice. ``alpha`` and ``back``: length * K each.
float decode(const float* emissions, int64_t length, int k, const float* start, const float* end,
             const float* transitions, float* alpha, int8_t* back, int8_t* tags) {
  const auto gap = [k](const float* scores, int chosen) {
    float other = -INFINITY;
    for (int j = 0; j < k; ++j)
      if (j != chosen) other = std::max(other, scores[j]);
    return scores[chosen] - other;
  };
  for (int j = 0; j < k; ++j) alpha[j] = start[j] + emissions[j];
  for (int64_t t = 1; t < length; ++t) {
    const float* previous = alpha + (t - 1) * k;
    for (int to = 0; to < k; ++to) {
      float best = previous[0] + transitions[to];
      int from_best = 0;
      for (int from = 1; from < k; ++from) {
        const float score = previous[from] + transitions[from * k + to];
        if (score > best) best = score, from_best = from;
      }
      back[t * k + to] = static_cast<int8_t>(from_best);
      alpha[t * k + to] = best + emissions[t * k + to];
    }
  }
  float scores[64];
  for (int j = 0; j < k; ++j) scores[j] = alpha[(length - 1) * k + j] + end[j];
  int tag = static_cast<int>(std::max_element(scores, scores + k) - scores);
  float margin = gap(scores, tag);
  tags[length - 1] = static_cast<int8_t>(tag);
  for (int64_t t = length - 2; t >= 0; --t) {
    const int chosen = back[(t + 1) * k + tag];
    for (int j = 0; j < k; ++j) scores[j] = alpha[t * k + j] + transitions[j * k + tag];
    margin = std::min(margin, gap(scores, chosen));
    tag = chosen;
    tags[t] = static_cast<int8_t>(tag);
  }
  return margin;
}

template <typename T>
std::vector<T> copy_of(const py::array_t<T, py::array::c_style | py::array::forcecast>& a, std::vector<ssize_t> shape,
                       const char* name) {
  if (a.ndim() != static_cast<ssize_t>(shape.size()) || !std::equal(shape.begin(), shape.end(), a.shape()))
    throw std::invalid_argument(std::string("SegModel: ") + name + " has the wrong shape");
  return std::vector<T>(a.data(), a.data() + a.size());
}

using Floats = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Int64s = py::array_t<int64_t, py::array::c_style>;
using Int32s = py::array_t<int32_t, py::array::c_style>;

// Where each of the sequences of ``lengths`` starts in their concatenation of ``total`` items; every sequence
// non-empty and, where ``sorted``, no longer than the one before.
std::vector<int64_t> sequence_starts(const Int64s& lengths, int64_t total, bool sorted, const std::string& caller) {
  if (lengths.ndim() != 1) throw std::invalid_argument(caller + ": lengths is 1-D");
  const int64_t* length = lengths.data();
  std::vector<int64_t> starts(lengths.shape(0));
  int64_t sum = 0;
  for (ssize_t i = 0; i < lengths.shape(0); ++i) {
    if (length[i] <= 0) throw std::invalid_argument(caller + ": sequences must be non-empty");
    if (sorted && i && length[i] > length[i - 1])
      throw std::invalid_argument(caller + ": sequences must be sorted by decreasing length");
    starts[i] = sum;
    sum += length[i];
  }
  if (sum != total) throw std::invalid_argument(caller + ": lengths do not add up to the " + std::to_string(total) + " items");
  return starts;
}

// LAC's seg model, weights scaled (bigru_crf.FastSegModel gives them) and packed once; products through ``blas``.
class SegModel {
 public:
  SegModel(Floats table, Floats gates_1, Floats cand_1, Floats inputs_2, Floats bias_2, Floats gates_2, Floats cand_2,
           Floats emission_w, Floats emission_b, Floats start, Floats end, Floats transitions, const std::string& blas,
           int64_t block_chars)
      : blas_(blas_named(blas)),
        d_(cand_1.ndim() == 3 ? cand_1.shape(1) : 0),
        k_(start.ndim() == 1 ? start.shape(0) : 0),
        block_chars_(block_chars) {
    if (d_ <= 0 || k_ <= 0 || k_ > 64 || block_chars <= 0 || table.ndim() != 2)
      throw std::invalid_argument("SegModel: bad weights or block_chars");
    vocabulary_ = table.shape(0);
    table_ = copy_of(table, {vocabulary_, 6 * d_}, "table");
    emission_b_ = copy_of(emission_b, {k_}, "emission_b");
    start_ = copy_of(start, {k_}, "start");
    end_ = copy_of(end, {k_}, "end");
    transitions_ = copy_of(transitions, {k_, k_}, "transitions");
    const auto w_gates_1 = copy_of(gates_1, {2, d_, 2 * d_}, "gates_1"), w_cand_1 = copy_of(cand_1, {2, d_, d_}, "cand_1"),
               w_gates_2 = copy_of(gates_2, {2, d_, 2 * d_}, "gates_2"), w_cand_2 = copy_of(cand_2, {2, d_, d_}, "cand_2"),
               w_inputs_2 = copy_of(inputs_2, {2 * d_, 6 * d_}, "inputs_2"), b_2 = copy_of(bias_2, {6 * d_}, "bias_2"),
               w_emission = copy_of(emission_w, {2 * d_, k_}, "emission_w");
    const int m = 256, d = static_cast<int>(d_);  // a typical step's rows (packing is valid for any)
    for (int dir = 0; dir < 2; ++dir) {
      Direction& first = layers_[0][dir];
      first.gates = std::make_unique<Weight>(blas_, m, 2 * d, d, w_gates_1.data() + dir * d * 2 * d, 2 * d);
      first.cand = std::make_unique<Weight>(blas_, m, d, d, w_cand_1.data() + dir * d * d, d);
      first.bias.assign(3 * d, 0.0f);  // layer 1's biases are in the table
      Direction& second = layers_[1][dir];
      second.input = std::make_unique<Weight>(blas_, m, 3 * d, 2 * d, w_inputs_2.data() + dir * 3 * d, 6 * d);
      second.gates = std::make_unique<Weight>(blas_, m, 2 * d, d, w_gates_2.data() + dir * d * 2 * d, 2 * d);
      second.cand = std::make_unique<Weight>(blas_, m, d, d, w_cand_2.data() + dir * d * d, d);
      second.bias.assign(b_2.begin() + dir * 3 * d, b_2.begin() + (dir + 1) * 3 * d);
    }
    emission_ = std::make_unique<Weight>(blas_, m, static_cast<int>(k_), 2 * d, w_emission.data(), static_cast<int>(k_));
  }

  // Tag ids of the concatenated ``ids`` of sequences of ``lengths`` (non-increasing), and each one's margin.
  std::pair<py::array_t<int8_t>, py::array_t<float>> tags(Int32s ids, Int64s lengths) {
    const std::vector<int64_t> starts = check(ids, lengths);
    py::array_t<int8_t> tags(ids.shape(0));
    py::array_t<float> margins(lengths.shape(0));
    int8_t* tag_data = tags.mutable_data();
    float* margin_data = margins.mutable_data();
    run(ids, lengths, starts, [&](const Block& block, Scratch& scratch, int64_t offset) {
      std::vector<float> sequence, alpha;
      std::vector<int8_t> back;
      for (int i = 0; i < block.count; ++i) {
        const int64_t length = block.lengths[i];
        sequence.resize(length * k_), alpha.resize(length * k_), back.resize(length * k_);
        for (int64_t t = 0; t < length; ++t)
          std::memcpy(sequence.data() + t * k_, scratch.emissions.data() + (block.first[t] + i) * k_, k_ * sizeof(float));
        margin_data[offset + i] = decode(sequence.data(), length, static_cast<int>(k_), start_.data(), end_.data(),
                                         transitions_.data(), alpha.data(), back.data(),
                                         tag_data + block.starts[i]);
      }
    });
    return {tags, margins};
  }

  // The tag scores [total, K] of each character, in the order of ``ids`` (for tests and tools).
  py::array_t<float> emissions(Int32s ids, Int64s lengths) {
    const std::vector<int64_t> starts = check(ids, lengths);
    py::array_t<float> out({static_cast<int64_t>(ids.shape(0)), static_cast<int64_t>(k_)});
    float* data = out.mutable_data();
    run(ids, lengths, starts, [&](const Block& block, Scratch& scratch, int64_t) {
      for (int i = 0; i < block.count; ++i)
        for (int64_t t = 0; t < block.lengths[i]; ++t)
          std::memcpy(data + (block.starts[i] + t) * k_,
                      scratch.emissions.data() + (block.first[t] + i) * k_, k_ * sizeof(float));
    });
    return out;
  }

 private:
  // Each sequence's start in ``ids``, once the input is checked.
  std::vector<int64_t> check(const Int32s& ids, const Int64s& lengths) const {
    if (ids.ndim() != 1) throw std::invalid_argument("SegModel: ids is 1-D");
    std::vector<int64_t> starts = sequence_starts(lengths, ids.shape(0), true, "SegModel");
    const int32_t* id = ids.data();
    for (ssize_t c = 0; c < ids.shape(0); ++c)
      if (id[c] < 0 || id[c] >= vocabulary_) throw std::invalid_argument("SegModel: character id out of range");
    return starts;
  }

  // Blocks of consecutive sequences of about block_chars characters (at least one sequence) through the model;
  // ``done(block, scratch, index of its first sequence)`` reads each block's emissions.
  template <typename Done>
  void run(const Int32s& ids, const Int64s& lengths, const std::vector<int64_t>& starts, Done done) {
    const int64_t* length = lengths.data();
    const int64_t count = lengths.shape(0);
    py::gil_scoped_release release;
    OneThread one;
    Scratch scratch;
    for (int64_t begin = 0, end = 0; begin < count; begin = end) {
      int64_t chars = 0;
      for (end = begin; end < count && (end == begin || chars + length[end] <= block_chars_); ++end) chars += length[end];
      Block block{ids.data(), length + begin, starts.data() + begin, static_cast<int>(end - begin)};
      block.layout();
      forward(block, scratch);
      done(block, scratch, begin);
    }
  }

  void forward(const Block& block, Scratch& s) {
    const ssize_t d = d_, n = block.count, rows = block.rows;
    for (auto* buffer : {&s.h, &s.next_h, &s.reset_h, &s.cand}) buffer->resize(std::max<size_t>(buffer->size(), n * d));
    s.gates.resize(std::max<size_t>(s.gates.size(), n * 2 * d));
    s.inputs.resize(std::max<size_t>(s.inputs.size(), n * 2 * d));
    s.projected.resize(std::max<size_t>(s.projected.size(), n * 3 * d));
    for (auto* buffer : {&s.positions, &s.rows}) buffer->resize(std::max<size_t>(buffer->size(), n));
    s.features.resize(rows * 2 * d), s.hidden.resize(rows * 2 * d), s.emissions.resize(rows * k_);
    for (int layer = 0; layer < 2; ++layer)
      for (int dir = 0; dir < 2; ++dir) {
        const Pass pass{&block, &layers_[layer][dir], dir, d, layer ? nullptr : table_.data(),
                        layer ? s.features.data() : nullptr, &s, layer ? s.hidden.data() : s.features.data()};
        DISPATCH(layer_pass, pass);
      }
    emission_->product(static_cast<int>(rows), s.hidden.data(), s.emissions.data());
    for (ssize_t r = 0; r < rows; ++r)
      for (ssize_t j = 0; j < k_; ++j) s.emissions[r * k_ + j] += emission_b_[j];
  }

  Blas blas_;
  ssize_t d_, k_, vocabulary_ = 0;
  int64_t block_chars_;
  std::vector<float> table_, emission_b_, start_, end_, transitions_;
  Direction layers_[2][2];
  std::unique_ptr<Weight> emission_;  // [2D, K]
};

// Paddle's crf_decoding over the concatenated emissions [total, K] of sequences of ``lengths``: tags, margins.
std::pair<py::array_t<int8_t>, py::array_t<float>> crf_decode(Floats emissions, Int64s lengths, Floats start, Floats end,
                                                              Floats transitions) {
  const ssize_t k = start.shape(0);
  if (emissions.ndim() != 2 || emissions.shape(1) != k || end.shape(0) != k || transitions.ndim() != 2 ||
      transitions.shape(0) != k || transitions.shape(1) != k || k > 64)
    throw std::invalid_argument("crf_decode: inconsistent shapes");
  const std::vector<int64_t> starts = sequence_starts(lengths, emissions.shape(0), false, "crf_decode");
  py::array_t<int8_t> tags(emissions.shape(0));
  py::array_t<float> margins(lengths.shape(0));
  std::vector<float> alpha;
  std::vector<int8_t> back;
  for (ssize_t i = 0; i < lengths.shape(0); ++i) {
    const int64_t length = lengths.data()[i];
    alpha.resize(length * k), back.resize(length * k);
    margins.mutable_data()[i] = decode(emissions.data() + starts[i] * k, length, static_cast<int>(k), start.data(),
                                       end.data(), transitions.data(), alpha.data(), back.data(),
                                       tags.mutable_data() + starts[i]);
  }
  return {tags, margins};
}

}  // namespace

PYBIND11_MODULE(_gru_kernels, m) {
  m.doc() = "LAC's GRU layers for ernie_pipeline.segment.bigru_crf: fused activations, whole layers through MKL";
  m.def("gates_step", &gates_step, py::arg("gates").noconvert(), py::arg("x").noconvert(),
        py::arg("h").noconvert(), py::arg("reset_h").noconvert());
  m.def("candidate_step", &candidate_step, py::arg("cand").noconvert(), py::arg("x").noconvert(),
        py::arg("gates").noconvert(), py::arg("h").noconvert(), py::arg("new_h").noconvert());
  m.def("kernel_isa", &isa_name, "The activation kernels' instruction set: avx512, avx2, avx or baseline");
  m.def("use_isa", &use_isa, py::arg("name"),
        "Run the kernels built for a narrower instruction set than this CPU's widest (tests, benchmarks)");
  m.def("load_mkl", &load_mkl, py::arg("folder"), "Open libmklml_intel.so from folder; its version string");
  m.def("mkl_loaded", [] { return mkl.loaded(); });
  m.def("load_openblas", &load_openblas, py::arg("path"), "Open an OpenBLAS library (NumPy's) for SegModel");
  m.def("sgemm", &sgemm, py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("out").noconvert(),
        "out <- a @ b through MKL, one thread");
  py::class_<SegModel>(m, "SegModel", "LAC's seg model through MKL or OpenBLAS, one thread, in blocks of sequences")
      .def(py::init<Floats, Floats, Floats, Floats, Floats, Floats, Floats, Floats, Floats, Floats, Floats, Floats,
                    const std::string&, int64_t>(),
           py::arg("table"), py::arg("gates_1"), py::arg("cand_1"), py::arg("inputs_2"), py::arg("bias_2"),
           py::arg("gates_2"), py::arg("cand_2"), py::arg("emission_w"), py::arg("emission_b"), py::arg("start"),
           py::arg("end"), py::arg("transitions"), py::arg("blas"), py::arg("block_chars"))
      .def("tags", &SegModel::tags, py::arg("ids"), py::arg("lengths"))
      .def("emissions", &SegModel::emissions, py::arg("ids"), py::arg("lengths"));
  m.def("crf_decode", &crf_decode, py::arg("emissions"), py::arg("lengths"), py::arg("start"), py::arg("end"),
        py::arg("transitions"), "Paddle's crf_decoding per sequence: tags and margins");
}
