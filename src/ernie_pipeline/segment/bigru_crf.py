"""LAC's word segmentation model (``LAC(mode='seg')``) without Paddle: several times faster, same words.

LAC's seg model is small: character embeddings (96) → two bidirectional GRU layers (96 per
direction) → a linear layer to 4 tags (B/I/E/S) → linear-chain CRF (Viterbi). Paddle's predictor
spends most of its time on per-step overhead of sequences of a few dozen characters. Here the same
weights (read from LAC's own model files) run over packed, length-sorted batches of thousands of
characters: each GRU time step is one matrix product for every sentence still running, plus one fused
kernel for the activations. With the C++ extension (:mod:`ernie_pipeline.segment._gru_kernels`) and MKL
or NumPy's OpenBLAS (:mod:`ernie_pipeline.segment.blas` measures which is faster here) the whole model,
Viterbi included, runs in C++ over blocks of ``BLOCK_CHARS`` characters, its weights packed once; without
the extension each step is a NumPy matmul and a fused kernel (or NumPy), and Viterbi runs in NumPy (the C++ one follows it operation
for operation: same tags and margins on the same scores).

Exactness: float32 arithmetic in a different order differs from Paddle's in the last bits, which
can only change a result where two tag paths score almost the same. Viterbi reports, per
sentence, the margin between the best path and the best alternative (the smallest gap of any
decision along the path); sentences whose margin is below ``min_margin`` are segmented again by
LAC itself. On the sample, that is 158 sentences of 187,294, and the words equal LAC's everywhere
(``bench/segment_speed.py`` checks every sentence).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ernie_pipeline.segment import blas
from ernie_pipeline.segment.lac_model_files import lac_model_dir, load_kv, read_paddle_tensor

# Characters per block of the C++ engine, whose states, features and scores then stay in the core's caches
# (bench/segment_speed.py, 300 documents: 512: 707 KB/s, 2,048: 956, 8,192: 1,002, 32,768: 912).
BLOCK_CHARS = 8192

class _BiGru:
    """Both directions of one bidirectional layer of Paddle ``gru`` ops (origin_mode=False), run
    together. Gates [update u, reset r, candidate]: u, r = sigmoid(x_ur + h W_ur);
    c = tanh(x_c + (r * h) W_c); h = h + u * (c - h).

    Activations are computed as Paddle's AVX kernels do, through ``exp`` (sigmoid(z) =
    1 / (1 + exp(-z)), tanh(z) = 2 / (1 + exp(-2 z)) - 1), which NumPy vectorises and ``np.tanh``
    does not; the factors -1 and -2 are folded into the weights once.
    """

    def __init__(self, directions: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]):
        fc_w, fc_b, w_gates, w_cand = [], [], [], []
        for fc_weight, fc_bias, gru_weight, gru_bias in directions:
            hidden = gru_weight.shape[0]
            scale = np.concatenate([np.full(2 * hidden, -1.0), np.full(hidden, -2.0)]).astype(np.float32)
            # Paddle keeps the [D, 2D] gate weights and then the [D, D] candidate weights in one flat
            # buffer (gru_op.h: state_weight = weight + 2 * D * D), not as column blocks of a [D, 3D].
            flat = gru_weight.reshape(-1)
            w_gates.append(-flat[: 2 * hidden * hidden].reshape(hidden, 2 * hidden))
            w_cand.append(-2 * flat[2 * hidden * hidden:].reshape(hidden, hidden))
            fc_w.append(fc_weight * scale)
            fc_b.append((fc_bias.reshape(-1) + gru_bias.reshape(-1)) * scale)  # both add to the input
        self.hidden = hidden
        self.w_gates, self.w_cand = np.stack(w_gates), np.stack(w_cand)
        self.fc_w, self.fc_b = np.stack(fc_w), np.stack(fc_b)[:, None, :]
        # both directions' projections side by side, for the C++ layer: one product, columns [forward | backward]
        self.w_both = np.ascontiguousarray(np.concatenate(fc_w, axis=1))
        self.b_both = np.ascontiguousarray(np.concatenate([b.reshape(-1) for b in fc_b]))

    def project(self, inputs: np.ndarray, mirror: np.ndarray | None = None) -> np.ndarray:
        """[2, N, 3D] scaled input projections of packed ``inputs`` [N, F]: forward rows in time
        order, backward rows in the ``mirror`` order (each sequence reversed)."""
        out = np.empty((2, len(inputs), 3 * self.hidden), np.float32)
        np.matmul(inputs, self.fc_w[0], out=out[0])
        np.matmul(inputs if mirror is None else inputs[mirror], self.fc_w[1], out=out[1])
        out += self.fc_b
        return out

    def run(self, projected: np.ndarray, active: np.ndarray) -> np.ndarray:
        """``projected``: [2, N, 3D], each direction's rows packed time-major (step t's rows are those
        of the ``active[t]`` sequences longer than t, longest first). Hidden states, same layout."""
        hidden = self.hidden
        out = np.empty((2, projected.shape[1], hidden), np.float32)
        batch = active[0]
        gates = np.empty((batch, 2 * hidden), np.float32)
        cand = np.empty((batch, hidden), np.float32)
        reset_h = np.empty((batch, hidden), np.float32)
        initial = np.zeros((batch, hidden), np.float32)
        for direction in range(2):
            w_gates, w_cand, states = self.w_gates[direction], self.w_cand[direction], out[direction]
            h, row = initial, 0
            for n in active:  # one step of every sequence still running
                x, g, c, rh, h = projected[direction, row:row + n], gates[:n], cand[:n], reset_h[:n], h[:n]
                np.matmul(h, w_gates, out=g)
                gates_step(g, x, h, rh)
                np.matmul(rh, w_cand, out=c)
                new_h = states[row:row + n]
                candidate_step(c, x, g, h, new_h)
                h, row = new_h, row + n
        return out


def _numpy_gates_step(gates, x, h, reset_h):
    """gates <- [u, r] = 1 / (1 + exp(gates + x[:, :2D])); reset_h <- r * h."""
    hidden = h.shape[1]
    gates += x[:, : 2 * hidden]
    with np.errstate(over="ignore"):  # exp(large) = inf gives the right limit 0
        np.exp(gates, out=gates)
    gates += 1
    np.reciprocal(gates, out=gates)
    np.multiply(gates[:, hidden:], h, out=reset_h)


def _numpy_candidate_step(cand, x, gates, h, new_h):
    """new_h <- h + u * (tanh - h), tanh = 2 / (1 + exp(cand + x[:, 2D:])) - 1."""
    hidden = h.shape[1]
    cand += x[:, 2 * hidden:]
    with np.errstate(over="ignore"):
        np.exp(cand, out=cand)
    cand += 1
    np.divide(2, cand, out=cand)
    cand -= 1
    cand -= h
    cand *= gates[:, :hidden]
    np.add(h, cand, out=new_h)


try:  # the same two steps fused in C++ (built by `make setup`): about 1.3x faster overall
    from ernie_pipeline.segment import _gru_kernels
    from ernie_pipeline.segment._gru_kernels import candidate_step, gates_step
except ImportError:
    _gru_kernels = None
    gates_step, candidate_step = _numpy_gates_step, _numpy_candidate_step


class FastSegModel:
    """LAC's seg model: ``tags(char_ids)`` → Viterbi tags and decision margins (in C++ through the BLAS that
    :func:`~ernie_pipeline.segment.blas.backend` picks, in blocks of ``block_chars`` characters)."""

    def __init__(self, model_dir: str | Path | None = None, block_chars: int = BLOCK_CHARS):
        self.block_chars = block_chars
        self._native = {}
        model_dir = Path(model_dir) if model_dir else lac_model_dir("seg")
        weights = model_dir / "model"

        def param(name):
            return read_paddle_tensor(weights / name).astype(np.float32)

        def direction(index):
            return tuple(param(name) for name in (f"fc_{index}.w_0", f"fc_{index}.b_0", f"gru_{index}.w_0",
                                                  f"gru_{index}.b_0"))

        # Layer 1: forward gru_0 and reverse gru_1 on the embeddings; layer 2: gru_2 / gru_3 on both.
        self.layers = [_BiGru([direction(0), direction(1)]), _BiGru([direction(2), direction(3)])]
        # Layer 1's input projection depends on the character only: a table lookup.
        self.first_projection = self.layers[0].project(param("word_emb"))
        self.first_table = np.ascontiguousarray(np.concatenate(self.first_projection, axis=1))  # [V, 6D]
        self.emission_w = param("fc_4.w_0")
        self.emission_b = param("fc_4.b_0")
        crf = param("crfw")  # rows: start weights, end weights, then transitions [from, to]
        self.start, self.end, self.transitions = crf[0], crf[1], crf[2:]
        self.char_ids = self._char_table(model_dir / "conf")

    def native(self, library: str):
        """The whole model in C++ (``_gru_kernels.SegModel``) through ``library`` ("mkl" or "openblas"), its
        weights packed once per library."""
        if library not in self._native:
            first, second = self.layers
            self._native[library] = _gru_kernels.SegModel(
                self.first_table, first.w_gates, first.w_cand, second.w_both, second.b_both, second.w_gates,
                second.w_cand, self.emission_w, self.emission_b, self.start, self.end, self.transitions, library,
                self.block_chars)
        return self._native[library]

    @staticmethod
    def _char_table(conf: Path) -> np.ndarray:
        """Code point → LAC word id (q2b replacement first, unknown → OOV), as LAC's
        ``SegDataset.word_to_ids`` does one character at a time."""
        word2id = {word: int(i) for i, word in load_kv(conf / "word.dic")}
        replace = dict(load_kv(conf / "q2b.dic"))
        table = np.full(0x110000, word2id["OOV"], dtype=np.int32)
        for char in set(word2id) | set(replace):
            if len(char) == 1:
                table[ord(char)] = word2id.get(replace.get(char, char), word2id["OOV"])
        return table

    def encode(self, sentence: str) -> np.ndarray:
        return self.char_ids[np.frombuffer(sentence.encode("utf-32-le", "surrogatepass"), dtype="<u4")]

    def tags(self, ids: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """Tag ids of each sequence (sorted by decreasing length) and each one's Viterbi margin."""
        engine = blas.backend()
        if engine.name != "numpy":
            lengths = np.array([len(x) for x in ids], np.int64)
            with blas.one_thread(engine):
                tags, margins = self.native(engine.name).tags(np.concatenate(ids), lengths)
            return np.split(tags, np.cumsum(lengths[:-1])), margins
        emissions, lengths, active = self.emissions(ids)
        return self.viterbi(emissions, lengths, active)

    def emissions(self, ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tag scores [T, B, tags] of sequences sorted by decreasing length, their lengths, and the
        number of sequences longer than each step."""
        lengths = np.array([len(x) for x in ids])
        if np.any(lengths[1:] > lengths[:-1]) or lengths[-1] == 0:
            raise ValueError("sequences must be non-empty and sorted by decreasing length")
        steps, batch = int(lengths[0]), len(ids)
        time = np.arange(steps)[:, None]
        valid = time < lengths  # [T, B]; True on a prefix of each row
        active = valid.sum(axis=1)
        engine = blas.backend()
        if engine.name != "numpy":
            with blas.one_thread(engine):
                per_char = self.native(engine.name).emissions(np.concatenate(ids), lengths.astype(np.int64))
            emissions = np.zeros((batch, steps, len(self.start)), np.float32)
            emissions[valid.T] = per_char
            return emissions.transpose(1, 0, 2), lengths, active
        padded = np.zeros((steps, batch), np.int32)
        for b, x in enumerate(ids):
            padded[: len(x), b] = x
        packed_ids = padded[valid]
        # Row of (t, b) in the packed layout, and the row of the same sequence's mirrored position.
        row = np.zeros((steps, batch), np.int64)
        row[valid] = np.arange(len(packed_ids))
        mirror = row[np.where(valid, lengths - 1 - time, 0), np.arange(batch)][valid]
        first, second = self.layers
        projected = np.empty((2, len(packed_ids), self.first_projection.shape[2]), np.float32)
        np.take(self.first_projection[0], packed_ids, axis=0, out=projected[0])
        np.take(self.first_projection[1], packed_ids[mirror], axis=0, out=projected[1])
        hidden = first.run(projected, active)
        features = np.concatenate([hidden[0], hidden[1][mirror]], axis=1)
        hidden = second.run(second.project(features, mirror), active)
        features = np.concatenate([hidden[0], hidden[1][mirror]], axis=1)
        return self._emissions(features, valid, steps, batch), lengths, active

    def _emissions(self, features: np.ndarray, valid: np.ndarray, steps: int, batch: int) -> np.ndarray:
        """Tag scores [T, B, tags] (zero past each sequence's end) from the packed features [N, 2D]."""
        emissions = np.zeros((steps, batch, len(self.start)), np.float32)
        scores = np.empty((len(features), len(self.start)), np.float32)
        np.matmul(features, self.emission_w, out=scores)
        emissions[valid] = scores + self.emission_b
        return emissions

    def viterbi(self, emissions: np.ndarray, lengths: np.ndarray, active: np.ndarray
                 ) -> tuple[list[np.ndarray], np.ndarray]:
        """Paddle's ``crf_decoding``: start + emission, max over predecessors + transition, end;
        plus each path's margin: the smallest gap between a decision along it and the best other
        choice (a lower bound on how much better it scores than any other path)."""
        steps, batch, num_tags = emissions.shape
        alphas = np.empty((steps, batch, num_tags), np.float32)
        alphas[0] = self.start + emissions[0]
        backpointers = np.empty((steps, batch, num_tags), np.int64)
        for t in range(1, steps):
            n = active[t]
            scores = alphas[t - 1, :n, :, None] + self.transitions  # [n, from, to]
            backpointers[t, :n] = scores.argmax(axis=1)
            alphas[t, :n] = scores.max(axis=1) + emissions[t, :n]
        columns = np.arange(batch)
        final = alphas[lengths - 1, columns] + self.end
        tag = final.argmax(axis=1)
        margin = _gap(final, tag)
        paths = np.empty((steps, batch), np.int64)
        paths[steps - 1] = tag
        for t in range(steps - 2, -1, -1):
            n = active[t + 1]  # sequences that go on past t; the others end at t with their final tag
            following = tag[:n]
            chosen = backpointers[t + 1, np.arange(n), following]
            scores = alphas[t, :n] + self.transitions[:, following].T  # [n, from]
            margin[:n] = np.minimum(margin[:n], _gap(scores, chosen))
            tag[:n] = chosen
            paths[t] = tag
        return [paths[:n, b] for b, n in enumerate(lengths)], margin


def _gap(scores: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Per row: score of ``chosen`` minus the best score of any other column."""
    rows = np.arange(len(chosen))
    best = scores[rows, chosen]
    others = scores.copy()
    others[rows, chosen] = -np.inf
    return best - others.max(axis=1)
