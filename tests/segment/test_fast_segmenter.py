"""LAC's seg model without Paddle (ernie_pipeline.segment.bigru_crf: C++ through MKL, or NumPy; fast_segmenter)
against LAC itself, on real sample text."""

import itertools

import numpy as np
import pytest

from ernie_pipeline.segment.bigru_crf import FastSegModel
from ernie_pipeline.segment.fast_segmenter import FastSegmenter
from ernie_pipeline.segment.lac_model_files import lac_model_dir, read_paddle_tensor
from ernie_pipeline.segment.segmenters import make_segmenter
from ernie_pipeline.segment.sentences import split_sentences


@pytest.fixture(scope="module")
def model():
    return FastSegModel()


@pytest.fixture(scope="module")
def lac():
    return make_segmenter("seg", batch_size=32, engine="paddle")


@pytest.fixture(scope="module")
def sentences(inews_docs):
    return [s for d in inews_docs[1000:1150] for s in split_sentences(d["content"])]


def test_reads_lacs_parameter_files():
    weights = lac_model_dir("seg") / "model"
    assert read_paddle_tensor(weights / "word_emb").shape == (8224, 96)
    assert read_paddle_tensor(weights / "gru_0.w_0").shape == (96, 288)
    assert read_paddle_tensor(weights / "fc_2.w_0").shape == (192, 288)
    assert read_paddle_tensor(weights / "crfw").shape == (6, 4)  # start, end, 4x4 transitions


@pytest.mark.slow
def test_same_words_as_lac_on_real_sentences(sentences, lac):
    """The benchmark checks the whole sample; this is a slice of 150 documents."""
    fast = FastSegmenter(reference=lambda batch: [None] * len(batch))  # rechecked ones stay None
    ours = fast(sentences)
    assert len(sentences) > 3000
    checked = [(mine, theirs) for mine, theirs in zip(ours, lac(sentences)) if mine is not None]
    assert len(checked) == len(sentences) - fast.rechecked
    assert fast.rechecked < len(sentences) / 200  # near-ties are rare
    assert sum(mine != theirs for mine, theirs in checked) == 0


@pytest.mark.slow
def test_near_ties_go_to_lac(sentences, lac):
    few = sentences[:200]
    everything = FastSegmenter(min_margin=np.inf, reference=lac)
    assert everything(few) == lac(few) and everything.rechecked == len(few)
    nothing = FastSegmenter(min_margin=-np.inf, reference=lambda batch: pytest.fail("no sentence is a near-tie"))
    assert nothing(few) == lac(few) and nothing.rechecked == 0


def test_unusual_characters_and_empty_sentences(lac):
    odd = ["ＬＡＣ是個優秀的分詞工具", "emoji 😀 和生僻字𠀀", "\ud800孤立代理", "", "。", "a", "1234567890" * 30]
    assert FastSegmenter()(odd) == [[] if not s else lac([s])[0] for s in odd]


@pytest.mark.slow
def test_viterbi_path_and_margin_equal_brute_force(model, sentences):
    """On the real emissions of short sentences: the best of all 4^T tag paths, and its margin is
    exactly the gap to the second-best path."""
    short = sorted((s for s in sentences if 3 <= len(s) <= 6), key=len, reverse=True)[:20]
    emissions, lengths, active = model.emissions([model.encode(s) for s in short])
    tags, margins = model.viterbi(emissions, lengths, active)
    for b, n in enumerate(lengths):
        scores = {path: model.start[path[0]] + model.end[path[-1]]
                  + sum(emissions[t, b, tag] for t, tag in enumerate(path))
                  + sum(model.transitions[a, c] for a, c in zip(path, path[1:]))
                  for path in itertools.product(range(4), repeat=int(n))}
        ranked = sorted(scores, key=scores.get, reverse=True)
        assert tuple(tags[b]) == ranked[0]
        assert margins[b] == pytest.approx(scores[ranked[0]] - scores[ranked[1]], abs=1e-4)


def test_input_must_be_sorted_by_length(model):
    with pytest.raises(ValueError, match="decreasing length"):
        model.tags([model.encode("短"), model.encode("长一些的句子")])


def test_custom_dictionary_as_lac_applies_it(tmp_path, lac):
    sentence = "春天的花开秋天的风以及冬天的落阳"
    custom = tmp_path / "custom.txt"
    custom.write_text("春天的花开秋天的风\n冬天 的 落阳\n", encoding="utf-8")
    fast = FastSegmenter(custom_dict=str(custom))
    expected = make_segmenter("seg", custom_dict=str(custom), engine="paddle")([sentence])
    assert fast([sentence]) == expected
    assert expected[0][0] == "春天的花开秋天的风" and expected != lac([sentence])


def test_compiled_kernels_are_built_and_match_the_numpy_steps(model, sentences):
    """`make setup` builds ernie_pipeline.segment._gru_kernels; its fused steps equal the NumPy ones (which
    run where it is not built) to float32 rounding, and both give LAC's words."""
    from ernie_pipeline.segment import _gru_kernels, bigru_crf

    assert bigru_crf.gates_step is _gru_kernels.gates_step
    rng = np.random.default_rng(0)
    n, d = 37, model.layers[0].hidden
    x = rng.normal(0, 4, (n, 3 * d)).astype(np.float32)  # wide range: saturated gates too
    h = rng.normal(0, 0.5, (n, d)).astype(np.float32)
    pre_gates = rng.normal(0, 4, (n, 2 * d)).astype(np.float32)
    pre_cand = rng.normal(0, 4, (n, d)).astype(np.float32)
    results = []
    for gates_step, candidate_step in ((_gru_kernels.gates_step, _gru_kernels.candidate_step),
                                       (bigru_crf._numpy_gates_step, bigru_crf._numpy_candidate_step)):
        gates, cand, reset_h, new_h = pre_gates.copy(), pre_cand.copy(), np.empty_like(h), np.empty_like(h)
        gates_step(gates, x, h, reset_h)
        candidate_step(cand, x, gates, h, new_h)
        results.append((gates, reset_h, new_h))
    for compiled, numpy_step in zip(*results):
        np.testing.assert_allclose(compiled, numpy_step, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError):  # float64 is refused, not silently copied
        _gru_kernels.gates_step(pre_gates.astype(np.float64), x, h, np.empty_like(h))


def _numpy_blas(monkeypatch):
    """The engine as it runs without MKL: NumPy's matmul, step by step."""
    from ernie_pipeline.segment import bigru_crf, blas

    monkeypatch.setattr(bigru_crf.blas, "backend", lambda: blas.Backend("numpy", "forced by the test"))


def test_each_blas_is_measured_and_the_faster_one_chosen():
    """paddlepaddle ships MKL and NumPy ships OpenBLAS: both are timed on every shape of the engine, and the engine
    runs on whichever the measurement says is faster here (MKL on Intel CPUs, usually OpenBLAS on AMD ones, where
    MKL 2019 runs its SSE code: no vendor is assumed). The activation kernels run the CPU's widest instruction set."""
    from ernie_pipeline.segment import _gru_kernels, blas

    engine = blas.backend()
    assert blas.paddle_libs() is not None and blas.load_mkl().startswith("Intel(R) Math Kernel Library")
    assert set(engine.gmacs) == {"numpy", "mkl"}
    for rates in engine.gmacs.values():
        assert set(rates) == set(blas.SHAPES) and all(rate > 0 for rate in rates.values())
    seconds = {name: sum(blas.MACS_PER_CHAR[label] / rate for label, rate in rates.items())
               for name, rates in engine.gmacs.items()}
    assert engine.name == ("mkl" if seconds["mkl"] <= seconds["numpy"] else "openblas"), (engine, seconds)
    flags = open("/proc/cpuinfo").read()
    widest = ("avx512" if " avx512bw " in flags and " avx512vl " in flags else "avx2" if " avx2 " in flags
              else "avx" if " avx " in flags else "baseline")
    assert _gru_kernels.kernel_isa() == widest
    rng = np.random.default_rng(0)
    a, b = rng.random((333, 192), dtype=np.float32), rng.random((192, 288), dtype=np.float32)
    out = np.empty((333, 288), np.float32)
    _gru_kernels.sgemm(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5)


@pytest.mark.parametrize("mkl_rate, openblas_loads, chosen", [
    (100.0, True, "mkl"), (20.0, True, "openblas"), (20.0, False, "numpy"), (100.0, False, "mkl")])
def test_the_choice_follows_the_measurement(mkl_rate, openblas_loads, chosen):
    """MKL where it is faster per character, else NumPy's OpenBLAS in the C++ engine, else NumPy's steps, whatever
    CPU runs the test."""
    from ernie_pipeline.segment import blas

    rates = {"numpy": dict.fromkeys(blas.SHAPES, 50.0), "mkl": dict.fromkeys(blas.SHAPES, mkl_rate)}
    version = "Intel(R) Math Kernel Library Version 2019.0.5 Product Build 20190808"
    assert blas.choose(rates, version, openblas_loads).name == chosen
    assert blas.choose({"numpy": rates["numpy"]}, None, openblas_loads).name == ("openblas" if openblas_loads
                                                                                else "numpy")


def _cpu_isas():
    from ernie_pipeline.segment import _gru_kernels

    isas = ["baseline", "avx", "avx2", "avx512"]
    return isas[: isas.index(_gru_kernels.kernel_isa()) + 1]


@pytest.fixture
def widest_isa():
    """Each test that narrows the kernels' instruction set gets the widest back afterwards."""
    from ernie_pipeline.segment import _gru_kernels

    widest = _gru_kernels.kernel_isa()
    yield widest
    _gru_kernels.use_isa(widest)


def test_cpp_engine_equals_the_numpy_steps_with_each_kernel(model, sentences, monkeypatch, widest_isa):
    """The whole model in C++ through MKL (packed weights, blocks of sequences) against NumPy's step-by-step
    layers, on the emissions of real sentences: equal to float32 rounding with the kernels of every
    instruction set this CPU runs (a node with less picks a narrower one), and the same tags."""
    from ernie_pipeline.segment import _gru_kernels

    batch = sorted(sentences[:300], key=len, reverse=True)
    ids = [model.encode(s) for s in batch]
    engine = {}
    for isa in _cpu_isas():
        _gru_kernels.use_isa(isa)
        engine[isa] = (model.emissions(ids)[0], model.tags(ids)[0])
    _numpy_blas(monkeypatch)
    emissions_numpy = model.emissions(ids)[0]
    tags_numpy = model.tags(ids)[0]
    assert list(engine) == _cpu_isas() and "baseline" in engine
    for emissions, tags in engine.values():
        np.testing.assert_allclose(emissions, emissions_numpy, rtol=1e-4, atol=1e-4)
        assert all(np.array_equal(a, b) for a, b in zip(tags, tags_numpy))
    with pytest.raises(ValueError, match="not one of the instruction sets"):
        _gru_kernels.use_isa("sse2")


def test_cpp_engine_through_numpys_openblas(model, sentences, monkeypatch):
    """Where NumPy's OpenBLAS is faster than MKL (MKL 2019 runs SSE code on AMD CPUs), the C++ engine runs its
    products through it: the same emissions to float32 rounding and the same tags as NumPy's steps."""
    from ernie_pipeline.segment import _gru_kernels, blas

    assert blas.load_openblas(), "NumPy's BLAS is OpenBLAS in this environment"
    batch = sorted(sentences[:300], key=len, reverse=True)
    ids = [model.encode(s) for s in batch]
    monkeypatch.setattr(blas, "backend", lambda: blas.Backend("openblas", "forced by the test"))
    emissions, tags = model.emissions(ids)[0], model.tags(ids)[0]
    _numpy_blas(monkeypatch)
    np.testing.assert_allclose(emissions, model.emissions(ids)[0], rtol=1e-4, atol=1e-4)
    assert all(np.array_equal(a, b) for a, b in zip(tags, model.tags(ids)[0]))
    with pytest.raises(ValueError, match="mkl or openblas"):
        model.native("cublas")
    assert isinstance(model.native("openblas"), _gru_kernels.SegModel)


def test_cpp_viterbi_follows_the_numpy_viterbi_exactly(model, sentences):
    """The engine's Viterbi (C++) and bigru_crf's NumPy one on the same scores: the same tags and the same
    margins to the bit, on real emissions and on integer scores full of exact ties (lower tag wins)."""
    from ernie_pipeline.segment import _gru_kernels

    batch = sorted(sentences[:300], key=len, reverse=True)
    ids = [model.encode(s) for s in batch]
    emissions, lengths, active = model.emissions(ids)
    expected_tags, expected_margins = model.viterbi(emissions, lengths, active)
    tags, margins = model.tags(ids)  # emissions and Viterbi in one C++ call
    assert all(np.array_equal(a, b) for a, b in zip(tags, expected_tags))
    np.testing.assert_array_equal(margins, expected_margins)

    rng = np.random.default_rng(1)
    lengths = np.sort(rng.integers(1, 9, 200))[::-1].astype(np.int64)
    valid = np.arange(lengths[0])[:, None] < lengths
    ties = np.zeros((lengths[0], len(lengths), 4), np.float32)
    ties[valid] = rng.integers(-2, 3, (lengths.sum(), 4))
    start, end, transitions = (rng.integers(-1, 2, shape).astype(np.float32) for shape in (4, 4, (4, 4)))
    model_ties = FastSegModel.__new__(FastSegModel)
    model_ties.start, model_ties.end, model_ties.transitions = start, end, transitions
    expected_tags, expected_margins = model_ties.viterbi(ties, lengths, valid.sum(axis=1))
    tags, margins = _gru_kernels.crf_decode(ties.transpose(1, 0, 2)[valid.T], lengths, start, end, transitions)
    assert np.array_equal(tags, np.concatenate(expected_tags)) and (expected_margins == 0).sum() > 20
    np.testing.assert_array_equal(margins, expected_margins)


def test_blocks_of_any_size_give_the_same_tags(model, sentences):
    """The engine cuts a batch into blocks of about block_chars characters (a sequence longer than a block is a
    block of its own): blocks of 50 characters and the default give the same tags."""
    batch = sorted(sentences[:300] + ["自然语言处理是人工智能的一个分支" * 8], key=len, reverse=True)
    ids = [model.encode(s) for s in batch]
    small = FastSegModel(block_chars=50)
    assert len(ids[0]) > 50 and len(batch) > 10
    tags, margins = model.tags(ids)
    small_tags, small_margins = small.tags(ids)
    assert all(np.array_equal(a, b) for a, b in zip(tags, small_tags))
    np.testing.assert_allclose(small_margins, margins, atol=1e-4)


@pytest.mark.parametrize("ids, lengths, message", [
    ([1, 2, 3], [1, 2], "sorted by decreasing length"),
    ([1, 2], [2, 0], "non-empty"),
    ([1, 2, 3], [2], "do not add up"),
    ([1, 99999], [2], "out of range"),
])
def test_cpp_engine_refuses_bad_input(model, ids, lengths, message):
    with pytest.raises(ValueError, match=message):
        model.native("mkl").tags(np.array(ids, np.int32), np.array(lengths, np.int64))


@pytest.mark.slow
def test_numpy_fallback_gives_lacs_words(monkeypatch, sentences, lac):
    from ernie_pipeline.segment import bigru_crf

    _numpy_blas(monkeypatch)
    monkeypatch.setattr(bigru_crf, "gates_step", bigru_crf._numpy_gates_step)
    monkeypatch.setattr(bigru_crf, "candidate_step", bigru_crf._numpy_candidate_step)
    few = sentences[:400]
    assert FastSegmenter()(few) == lac(few)
