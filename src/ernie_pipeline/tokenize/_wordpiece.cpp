// Whole-word WordPiece tokenisation of segmented documents, the compiled core of stage 3.
//
// It runs paddlenlp's ErnieTokenizer (BasicTokenizer + WordpieceTokenizer) and upstream's
// get_whole_word_mask_tokens over the characters of a document, from tables that the Python side
// (ernie_pipeline.fast_tokenizer) derives from paddlenlp and Python's unicodedata: what every code
// point becomes after lower-casing, accent stripping, control removal and CJK / punctuation
// isolation. Code points whose result depends on their neighbours (Python's final-sigma rule,
// combining marks that canonical reordering could move) are flagged; a document holding one, or a
// special-token literal (checked in Python), is reported back and tokenised by paddlenlp itself.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace py = pybind11;

namespace {

constexpr char32_t kMaxCodePoint = 0x110000;

// What one input code point becomes (kind table, one byte per code point).
enum Kind : uint8_t {
    kDrop = 0,      // removed (controls, U+0000, U+FFFD, unassigned, private use)
    kSpace = 1,     // a token boundary
    kJoin = 2,      // itself, part of the current token
    kIsolate = 3,   // itself, a token of its own (punctuation, symbols, CJK)
    kMapped = 4,    // a list of units (see Unit)
    kComplex = 5,   // depends on context: the document goes to paddlenlp
};

struct Unit {
    uint8_t kind;  // kSpace, kJoin or kIsolate
    char32_t cp;
};

struct Token {
    uint32_t begin, end;  // piece in Tokenizer::pieces_
    bool continuation;    // "##" + piece
    bool unknown;         // the unk token
    int32_t id;
};

bool decode_utf8(const std::string& text, std::u32string& out) {
    out.clear();
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    size_t n = text.size(), i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            out.push_back(c);
            i += 1;
        } else if ((c >> 5) == 0x6 && i + 1 < n) {
            out.push_back(((c & 0x1F) << 6) | (s[i + 1] & 0x3F));
            i += 2;
        } else if ((c >> 4) == 0xE && i + 2 < n) {
            out.push_back(((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F));
            i += 3;
        } else if ((c >> 3) == 0x1E && i + 3 < n) {
            out.push_back(((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) |
                          (s[i + 3] & 0x3F));
            i += 4;
        } else {
            return false;  // Python hands over valid UTF-8; anything else is a caller bug
        }
    }
    return true;
}

bool is_marking_cjk(char32_t cp) { return cp >= 0x4E00 && cp <= 0x9FA5; }  // upstream's [\u4E00-\u9FA5]; vocab/constants.py CJK_FIRST..CJK_LAST

class Tokenizer {
  public:
    Tokenizer(py::array_t<uint8_t, py::array::c_style> kinds, const std::unordered_map<uint32_t, std::vector<std::pair<uint8_t, uint32_t>>>& mapped,
              const std::unordered_map<std::u32string, int32_t>& base_vocab,
              const std::unordered_map<std::u32string, int32_t>& added_vocab, std::u32string unk_token, int32_t unk_id,
              int max_input_chars_per_word, bool whole_word, int max_word_length, std::u32string delimiter,
              bool split_sentences, int32_t eos_id)
        : base_vocab_(base_vocab),
          added_vocab_(added_vocab),
          unk_token_(std::move(unk_token)),
          unk_id_(unk_id),
          max_input_chars_(max_input_chars_per_word),
          whole_word_(whole_word),
          max_word_length_(max_word_length),
          delimiter_(std::move(delimiter)),
          split_sentences_(split_sentences),
          eos_id_(eos_id) {
        if (kinds.size() != kMaxCodePoint) throw std::invalid_argument("kinds must have 0x110000 entries");
        kinds_.assign(kinds.data(), kinds.data() + kinds.size());
        for (const auto& [cp, units] : mapped) {
            if (cp >= kMaxCodePoint || kinds_[cp] != kMapped) throw std::invalid_argument("mapped code point without kMapped");
            auto& list = mapped_[cp];
            for (const auto& [kind, out] : units) list.push_back(Unit{kind, static_cast<char32_t>(out)});
        }
        if (delimiter_.empty()) throw std::invalid_argument("empty word delimiter");
        single_.assign(kMaxCodePoint, -1);
        for (const auto& [token, id] : base_vocab_) {
            if (token.size() == 1) single_[token[0]] = id;
            max_piece_ = std::max(max_piece_, token.size());
        }
    }

    // Documents (UTF-8) -> (ids, tokens per sentence, sentences per document; -1 = use paddlenlp).
    py::tuple encode(const std::vector<std::string>& documents) {
        std::vector<int32_t> ids, lens;
        std::vector<int64_t> counts;
        {
            py::gil_scoped_release release;
            for (const auto& document : documents) counts.push_back(encode_document(document, ids, lens));
        }
        return py::make_tuple(to_array(ids), to_array(lens), to_array(counts));
    }

  private:
    template <typename T>
    static py::array_t<T> to_array(const std::vector<T>& values) {
        py::array_t<T> out(values.size());
        std::copy(values.begin(), values.end(), out.mutable_data());
        return out;
    }

    int64_t encode_document(const std::string& document, std::vector<int32_t>& ids, std::vector<int32_t>& lens) {
        if (!decode_utf8(document, text_)) throw std::invalid_argument("document is not valid UTF-8");
        for (char32_t cp : text_)
            if (cp >= kMaxCodePoint || kinds_[cp] == kComplex) return -1;
        const size_t lens_before = lens.size();
        size_t start = 0;
        while (start <= text_.size()) {
            size_t end = split_sentences_ ? text_.find(U'\n', start) : std::u32string::npos;
            if (end == std::u32string::npos) end = text_.size();
            size_t before = ids.size();
            encode_sentence(start, end, ids);
            if (ids.size() > before) lens.push_back(static_cast<int32_t>(ids.size() - before));
            start = end + 1;
        }
        int64_t sentences = static_cast<int64_t>(lens.size() - lens_before);
        if (sentences > 0 && eos_id_ >= 0) {
            ids.push_back(eos_id_);
            lens.back() += 1;
        }
        return sentences;
    }

    // Upstream's split on the delimiter, where the second of two empty fields in a row stands for a
    // literal delimiter; the joined words are what gets tokenised, the set of words drives marking.
    void encode_sentence(size_t start, size_t end, std::vector<int32_t>& ids) {
        std::u32string_view sentence(text_.data() + start, end - start);
        if (!whole_word_) {
            tokenize(sentence);
            for (const auto& token : tokens_) ids.push_back(token.id);
            return;
        }
        joined_.clear();
        words_.clear();
        word_starts_.clear();
        size_t position = 0;
        bool previous_empty = false;
        while (true) {
            size_t found = sentence.find(delimiter_, position);
            size_t stop = found == std::u32string_view::npos ? sentence.size() : found;
            std::u32string_view word = sentence.substr(position, stop - position);
            if (word.empty() && previous_empty) {
                word = delimiter_;
                previous_empty = false;
            } else {
                previous_empty = word.empty();
            }
            word_starts_.push_back({joined_.size(), word.size()});
            joined_.append(word);
            if (found == std::u32string_view::npos) break;
            position = found + delimiter_.size();
        }
        size_t longest_word = 0;
        for (const auto& [offset, length] : word_starts_) {
            words_.insert(std::u32string_view(joined_.data() + offset, length));
            longest_word = std::max(longest_word, length);
        }
        tokenize(joined_);
        mark_and_emit(longest_word, ids);
    }

    // get_whole_word_mask_tokens: the non-initial tokens of a segmented word (longest match of up to
    // max_word_length tokens, starting at a CJK token) become "##" + token.
    void mark_and_emit(size_t longest_word, std::vector<int32_t>& ids) {
        token_text_.clear();
        token_offsets_.assign(1, 0);
        for (const auto& token : tokens_) {
            if (token.unknown) {
                token_text_.append(unk_token_);
            } else {
                if (token.continuation) token_text_.append(U"##");
                token_text_.append(pieces_, token.begin, token.end - token.begin);
            }
            token_offsets_.push_back(token_text_.size());
        }
        const size_t n = tokens_.size();
        size_t i = 0;
        while (i < n) {
            size_t matched = 0;
            if (has_marking_cjk(i)) {
                for (size_t length = std::min<size_t>(max_word_length_, n - i); length >= 1; --length) {
                    size_t chars = token_offsets_[i + length] - token_offsets_[i];
                    if (chars > longest_word) continue;
                    if (words_.count(std::u32string_view(token_text_.data() + token_offsets_[i], chars))) {
                        matched = length;
                        break;
                    }
                }
            }
            ids.push_back(tokens_[i].id);
            for (size_t k = 1; k < matched; ++k) ids.push_back(marked_id(i + k));
            i += matched ? matched : 1;
        }
    }

    bool has_marking_cjk(size_t t) const {
        for (size_t c = token_offsets_[t]; c < token_offsets_[t + 1]; ++c)
            if (is_marking_cjk(token_text_[c])) return true;
        return false;
    }

    // convert_tokens_to_ids("##" + token): the tokenizer's added tokens first, then the vocabulary.
    int32_t marked_id(size_t t) {
        key_.assign(U"##");
        key_.append(token_text_, token_offsets_[t], token_offsets_[t + 1] - token_offsets_[t]);
        auto added = added_vocab_.find(key_);
        if (added != added_vocab_.end()) return added->second;
        auto base = base_vocab_.find(key_);
        return base != base_vocab_.end() ? base->second : unk_id_;
    }

    // BasicTokenizer (through the kind table) then WordPiece on each basic token.
    void tokenize(std::u32string_view text) {
        tokens_.clear();
        pieces_.clear();
        word_.clear();
        auto flush = [this]() {
            if (!word_.empty()) wordpiece();
            word_.clear();
        };
        auto take = [&](uint8_t kind, char32_t cp) {
            if (kind == kSpace) {
                flush();
            } else if (kind == kJoin) {
                word_.push_back(cp);
            } else {  // kIsolate
                flush();
                word_.push_back(cp);
                flush();
            }
        };
        for (char32_t cp : text) {
            uint8_t kind = kinds_[cp];
            if (kind == kDrop) continue;
            if (kind == kMapped) {
                for (const auto& unit : mapped_.at(cp)) take(unit.kind, unit.cp);
            } else {
                take(kind, cp);
            }
        }
        flush();
    }

    int32_t lookup(size_t begin, size_t end, bool continuation) {
        if (!continuation && end - begin == 1) return single_[word_[begin]];
        key_.clear();
        if (continuation) key_.append(U"##");
        key_.append(word_, begin, end - begin);
        auto found = base_vocab_.find(key_);
        return found == base_vocab_.end() ? -1 : found->second;
    }

    // WordpieceTokenizer: greedy longest match; a word with an unmatched rest is one unk token.
    void wordpiece() {
        const size_t n = word_.size();
        if (n > static_cast<size_t>(max_input_chars_)) {
            tokens_.push_back(Token{0, 0, false, true, unk_id_});
            return;
        }
        const size_t first = tokens_.size();
        size_t start = 0;
        while (start < n) {
            int32_t id = -1;
            size_t end = std::min(n, start + max_piece_);
            for (; end > start; --end) {
                id = lookup(start, end, start > 0);
                if (id >= 0) break;
            }
            if (id < 0) {
                tokens_.resize(first);
                tokens_.push_back(Token{0, 0, false, true, unk_id_});
                return;
            }
            uint32_t begin = pieces_.size();
            pieces_.append(word_, start, end - start);
            tokens_.push_back(Token{begin, static_cast<uint32_t>(pieces_.size()), start > 0, false, id});
            start = end;
        }
    }

    std::vector<uint8_t> kinds_;
    std::unordered_map<char32_t, std::vector<Unit>> mapped_;
    std::unordered_map<std::u32string, int32_t> base_vocab_, added_vocab_;
    std::vector<int32_t> single_;
    size_t max_piece_ = 1;
    std::u32string unk_token_;
    int32_t unk_id_;
    int max_input_chars_;
    bool whole_word_;
    int max_word_length_;
    std::u32string delimiter_;
    bool split_sentences_;
    int32_t eos_id_;

    // per-call buffers, reused
    std::u32string text_, joined_, word_, pieces_, token_text_, key_;
    std::vector<std::pair<size_t, size_t>> word_starts_;
    std::unordered_set<std::u32string_view> words_;
    std::vector<Token> tokens_;
    std::vector<size_t> token_offsets_;
};

}  // namespace

PYBIND11_MODULE(_wordpiece, m) {
    m.doc() = "Whole-word WordPiece tokenisation (paddlenlp ErnieTokenizer semantics) from code-point tables";
    m.attr("DROP") = int(kDrop);
    m.attr("SPACE") = int(kSpace);
    m.attr("JOIN") = int(kJoin);
    m.attr("ISOLATE") = int(kIsolate);
    m.attr("MAPPED") = int(kMapped);
    m.attr("COMPLEX") = int(kComplex);
    py::class_<Tokenizer>(m, "Tokenizer")
        .def(py::init<py::array_t<uint8_t, py::array::c_style>,
                      const std::unordered_map<uint32_t, std::vector<std::pair<uint8_t, uint32_t>>>&,
                      const std::unordered_map<std::u32string, int32_t>&,
                      const std::unordered_map<std::u32string, int32_t>&, std::u32string, int32_t, int, bool, int,
                      std::u32string, bool, int32_t>(),
             py::arg("kinds"), py::arg("mapped"), py::arg("base_vocab"), py::arg("added_vocab"), py::arg("unk_token"),
             py::arg("unk_id"), py::arg("max_input_chars_per_word"), py::arg("whole_word"), py::arg("max_word_length"),
             py::arg("delimiter"), py::arg("split_sentences"), py::arg("eos_id"))
        .def("encode", &Tokenizer::encode, py::arg("documents"),
             "UTF-8 documents -> (ids int32, tokens per sentence int32, sentences per document int64, -1 where "
             "the document must go to paddlenlp)");
}
