// The compiled core of the clean stage: everything it computes per character of a normalised document.
//
// * MinHash over character shingles: each shingle (k code points) is hashed (a polynomial over the code
//   points, mod 2^64, Murmur3's fmix64 finisher, the top 32 bits), and permutation j maps a shingle hash h
//   to (a_j * h + b_j) mod 2^32 with a_j odd (datasketch's "affine32" family); the signature holds each
//   permutation's minimum. The LSH key of a band is fmix64 over its rows' values.
// * Gopher-style repetition measures: the share of characters the most frequent n-gram covers, and the share
//   covered by second and later occurrences of repeated n-grams.
// * Long n-gram hashes (64 bits) for benchmark decontamination, and their lookup in a sorted table.
//
// * The normalisation's fast path: NFKC + whitespace removal + line split from per-code-point tables that the
//   Python side derives from unicodedata, for documents whose NFKC is the concatenation of their characters'
//   (no combining mark or other character that composes or reorders with a neighbour; see normalise.py).
//
// Only integer arithmetic: the same documents give the same bits on every machine.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

constexpr uint64_t kMultiplier = 0x9E3779B97F4A7C15ULL;

inline uint64_t fmix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

// A Python str's code points, without copying (the list holding the strs keeps them alive).
struct CodePoints {
    const void* data;
    int kind;
    size_t size;

    explicit CodePoints(PyObject* text) {
        if (!PyUnicode_Check(text)) throw py::type_error("expected a list of str");
        if (PyUnicode_READY(text) != 0) throw py::error_already_set();
        data = PyUnicode_DATA(text);
        kind = PyUnicode_KIND(text);
        size = static_cast<size_t>(PyUnicode_GET_LENGTH(text));
    }
    uint32_t operator[](size_t i) const { return PyUnicode_READ(kind, data, i); }
};

std::vector<CodePoints> code_points(const py::list& texts) {
    std::vector<CodePoints> out;
    out.reserve(texts.size());
    for (auto text : texts) out.emplace_back(text.ptr());
    return out;
}

// Hash of text[begin, begin + n): a polynomial over the code points mod 2^64, finished by fmix64 (with the
// length, so texts of different lengths differ even where the polynomial agrees).
inline uint64_t span_hash(const CodePoints& text, size_t begin, size_t n) {
    uint64_t x = 0;
    for (size_t i = begin; i < begin + n; ++i) x = x * kMultiplier + text[i];
    return fmix64(x + n * 0xC2B2AE3D27D4EB4FULL);
}

// The hashes of every n-gram of a text (a text shorter than n: one hash of the whole text; empty: none).
void ngram_hashes(const CodePoints& text, size_t n, std::vector<uint64_t>& out) {
    out.clear();
    if (text.size == 0) return;
    if (text.size < n) {
        out.push_back(span_hash(text, 0, text.size));
        return;
    }
    out.resize(text.size - n + 1);
    for (size_t i = 0; i < out.size(); ++i) out[i] = span_hash(text, i, n);
}

// MinHash signatures (rows: documents, columns: permutations) and the band keys (documents x bands).
py::tuple minhash(const py::list& texts, size_t shingle, py::array_t<uint32_t, py::array::c_style> a,
                  py::array_t<uint32_t, py::array::c_style> b, size_t bands) {
    const size_t perms = static_cast<size_t>(a.size());
    if (static_cast<size_t>(b.size()) != perms || bands == 0 || perms % bands)
        throw py::value_error("a and b need one value per permutation, bands x rows of them");
    const auto docs = code_points(texts);
    py::array_t<uint32_t> signatures({docs.size(), perms});
    py::array_t<uint64_t> keys({docs.size(), bands});
    const uint32_t* A = a.data();
    const uint32_t* B = b.data();
    uint32_t* S = signatures.mutable_data();
    uint64_t* K = keys.mutable_data();
    const size_t rows = perms / bands;
    std::vector<uint64_t> hashes;
    for (size_t d = 0; d < docs.size(); ++d) {
        ngram_hashes(docs[d], shingle, hashes);
        uint32_t* sig = S + d * perms;
        std::fill(sig, sig + perms, UINT32_MAX);
        for (uint64_t full : hashes) {
            const uint32_t h = static_cast<uint32_t>(full >> 32);
            for (size_t j = 0; j < perms; ++j) {
                const uint32_t v = A[j] * h + B[j];
                sig[j] = v < sig[j] ? v : sig[j];
            }
        }
        for (size_t band = 0; band < bands; ++band) {
            uint64_t x = band;
            for (size_t r = 0; r < rows; ++r) x = fmix64(x * kMultiplier + sig[band * rows + r]);
            K[d * bands + band] = x;
        }
    }
    return py::make_tuple(signatures, keys);
}

// Per document: code points in [cjk_first, cjk_last]; the share of characters covered by the most frequent
// top_n-gram where it occurs twice or more (its count x top_n / length, at most 1); the share covered by second and later occurrences of
// repeated_n-grams (Gopher's duplicate n-gram fraction). An n of 0 skips that measure (share 0).
py::tuple repetition(const py::list& texts, uint32_t cjk_first, uint32_t cjk_last, size_t top_n, size_t repeated_n) {
    const auto docs = code_points(texts);
    py::array_t<uint32_t> cjk(docs.size());
    py::array_t<double> top(docs.size()), repeated(docs.size());
    auto C = cjk.mutable_data();
    auto T = top.mutable_data();
    auto R = repeated.mutable_data();
    std::vector<uint64_t> hashes;
    std::vector<std::pair<uint64_t, uint32_t>> positions;
    std::vector<int32_t> cover;
    for (size_t d = 0; d < docs.size(); ++d) {
        const CodePoints& text = docs[d];
        uint32_t count = 0;
        for (size_t i = 0; i < text.size; ++i) {
            const uint32_t c = text[i];
            count += c >= cjk_first && c <= cjk_last;
        }
        C[d] = count;
        T[d] = R[d] = 0.0;
        if (top_n && text.size >= top_n) {
            ngram_hashes(text, top_n, hashes);
            std::sort(hashes.begin(), hashes.end());
            size_t best = 0;
            for (size_t i = 0, j; i < hashes.size(); i = j) {
                for (j = i; j < hashes.size() && hashes[j] == hashes[i]; ++j) {}
                best = std::max(best, j - i);
            }
            if (best >= 2) T[d] = std::min(1.0, static_cast<double>(best * top_n) / text.size);
        }
        if (repeated_n && text.size >= repeated_n) {
            ngram_hashes(text, repeated_n, hashes);
            positions.resize(hashes.size());
            for (size_t i = 0; i < hashes.size(); ++i) positions[i] = {hashes[i], static_cast<uint32_t>(i)};
            std::sort(positions.begin(), positions.end());
            cover.assign(text.size + 1, 0);
            for (size_t i = 1; i < positions.size(); ++i) {
                if (positions[i].first != positions[i - 1].first) continue;  // the first occurrence counts not
                cover[positions[i].second] += 1;
                cover[positions[i].second + repeated_n] -= 1;
            }
            size_t covered = 0;
            int32_t depth = 0;
            for (size_t i = 0; i < text.size; ++i) covered += (depth += cover[i]) > 0;
            R[d] = static_cast<double>(covered) / text.size;
        }
    }
    return py::make_tuple(cjk, top, repeated);
}

// One 64-bit hash per text (whole-text hashes: lines, exact copies' second opinion).
py::array_t<uint64_t> text_hashes(const py::list& texts) {
    const auto docs = code_points(texts);
    py::array_t<uint64_t> out(docs.size());
    auto O = out.mutable_data();
    for (size_t d = 0; d < docs.size(); ++d) O[d] = span_hash(docs[d], 0, docs[d].size);
    return out;
}

// The 64-bit hashes of every n-gram of every text, concatenated (texts shorter than n: none).
py::array_t<uint64_t> long_ngram_hashes(const py::list& texts, size_t n) {
    const auto docs = code_points(texts);
    std::vector<uint64_t> all, hashes;
    for (const auto& text : docs) {
        if (text.size < n) continue;
        ngram_hashes(text, n, hashes);
        all.insert(all.end(), hashes.begin(), hashes.end());
    }
    py::array_t<uint64_t> out(all.size());
    std::copy(all.begin(), all.end(), out.mutable_data());
    return out;
}

// A sorted table of n-gram hashes (the benchmark text's) and the documents that share an n-gram with it. A
// bitmap of the hashes' low bits (8 bits per entry, at least 2^20) answers most lookups without the search.
class NgramTable {
  public:
    NgramTable(py::array_t<uint64_t, py::array::c_style> sorted_hashes, size_t n)
        : hashes_(sorted_hashes.data(), sorted_hashes.data() + sorted_hashes.size()), n_(n) {
        if (!std::is_sorted(hashes_.begin(), hashes_.end())) throw py::value_error("the table must be sorted");
        size_t bits = size_t(1) << 20;
        while (bits < 8 * hashes_.size()) bits <<= 1;
        mask_ = bits - 1;
        bitmap_.assign(bits / 64, 0);
        for (uint64_t h : hashes_) bitmap_[(h & mask_) >> 6] |= uint64_t(1) << (h & 63);
    }

    // (document, table index) pairs: each table entry a document shares, once per document.
    py::tuple matches(const py::list& texts) const {
        const auto docs = code_points(texts);
        std::vector<int64_t> doc_of, entry, found;
        std::vector<uint64_t> hashes;
        for (size_t d = 0; d < docs.size(); ++d) {
            if (docs[d].size < n_) continue;
            ngram_hashes(docs[d], n_, hashes);
            found.clear();
            for (uint64_t h : hashes) {
                if (!(bitmap_[(h & mask_) >> 6] >> (h & 63) & 1)) continue;
                const auto at = std::lower_bound(hashes_.begin(), hashes_.end(), h);
                if (at != hashes_.end() && *at == h) found.push_back(at - hashes_.begin());
            }
            std::sort(found.begin(), found.end());
            found.erase(std::unique(found.begin(), found.end()), found.end());
            for (int64_t index : found) {
                doc_of.push_back(static_cast<int64_t>(d));
                entry.push_back(index);
            }
        }
        py::array_t<int64_t> docs_out(doc_of.size()), entries_out(entry.size());
        std::copy(doc_of.begin(), doc_of.end(), docs_out.mutable_data());
        std::copy(entry.begin(), entry.end(), entries_out.mutable_data());
        return py::make_tuple(docs_out, entries_out);
    }

  private:
    std::vector<uint64_t> hashes_;
    size_t n_;
    uint64_t mask_;
    std::vector<uint64_t> bitmap_;
};

// Per code point: what the fast normalisation does with it.
enum Kind : uint8_t {
    kKeep = 0,       // itself
    kWhitespace = 1, // dropped
    kNewline = 2,    // ends a line
    kMapped = 3,     // its NFKC (without whitespace), from the mapping table
    kUnsafe = 4,     // NFKC depends on its neighbours: the document takes the reference path
};

class Normaliser {
  public:
    // kinds: one byte per code point (0x110000); starts/mapped: the kMapped code points' replacements, the
    // code points of replacement i being mapped[starts[i]:starts[i + 1]] (indexed through index, per code point).
    Normaliser(py::array_t<uint8_t, py::array::c_style> kinds, py::array_t<int32_t, py::array::c_style> index,
               py::array_t<int64_t, py::array::c_style> starts, py::array_t<uint32_t, py::array::c_style> mapped)
        : kinds_(kinds.data(), kinds.data() + kinds.size()),
          index_(index.data(), index.data() + index.size()),
          starts_(starts.data(), starts.data() + starts.size()),
          mapped_(mapped.data(), mapped.data() + mapped.size()) {
        if (kinds_.size() != 0x110000 || index_.size() != 0x110000)
            throw py::value_error("kinds and index need one entry per code point");
    }

    // The document's normalised non-empty lines, or None where a code point needs the reference path.
    py::object lines(py::str text) const {
        const CodePoints cps(text.ptr());
        std::vector<std::u32string> out(1);
        for (size_t i = 0; i < cps.size; ++i) {
            const uint32_t c = cps[i];
            switch (kinds_[c]) {
                case kKeep: out.back().push_back(c); break;
                case kWhitespace: break;
                case kNewline:
                    if (!out.back().empty()) out.emplace_back();
                    break;
                case kMapped: {
                    const int32_t k = index_[c];
                    for (int64_t j = starts_[k]; j < starts_[k + 1]; ++j) out.back().push_back(mapped_[j]);
                    break;
                }
                default: return py::none();
            }
        }
        if (out.back().empty()) out.pop_back();
        py::list result(out.size());
        for (size_t i = 0; i < out.size(); ++i) {
            PyObject* line = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out[i].data(),
                                                       static_cast<Py_ssize_t>(out[i].size()));
            if (!line) throw py::error_already_set();
            PyList_SET_ITEM(result.ptr(), static_cast<Py_ssize_t>(i), line);
        }
        return std::move(result);
    }

  private:
    std::vector<uint8_t> kinds_;
    std::vector<int32_t> index_;
    std::vector<int64_t> starts_;
    std::vector<uint32_t> mapped_;
};

}  // namespace

PYBIND11_MODULE(_signatures, m) {
    m.doc() = "MinHash signatures, repetition measures and long n-gram hashes of normalised documents";
    m.def("minhash", &minhash, py::arg("texts"), py::arg("shingle"), py::arg("a"), py::arg("b"), py::arg("bands"));
    m.def("repetition", &repetition, py::arg("texts"), py::arg("cjk_first"), py::arg("cjk_last"), py::arg("top_n"),
          py::arg("repeated_n"));
    m.def("text_hashes", &text_hashes, py::arg("texts"));
    m.def("long_ngram_hashes", &long_ngram_hashes, py::arg("texts"), py::arg("n"));
    py::class_<Normaliser>(m, "Normaliser")
        .def(py::init<py::array_t<uint8_t, py::array::c_style>, py::array_t<int32_t, py::array::c_style>,
                      py::array_t<int64_t, py::array::c_style>, py::array_t<uint32_t, py::array::c_style>>(),
             py::arg("kinds"), py::arg("index"), py::arg("starts"), py::arg("mapped"))
        .def("lines", &Normaliser::lines, py::arg("text"));
    py::class_<NgramTable>(m, "NgramTable")
        .def(py::init<py::array_t<uint64_t, py::array::c_style>, size_t>(), py::arg("sorted_hashes"), py::arg("n"))
        .def("matches", &NgramTable::matches, py::arg("texts"));
}
