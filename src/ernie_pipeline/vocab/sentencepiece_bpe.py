"""``eng.vocab``: an English BPE vocabulary trained with sentencepiece (upstream ``gen_vocab.py``).

Writes ``eng.model`` and ``eng.vocab`` (``piece<TAB>score`` per line). Training runs on one thread
in input order and the model carries no file paths, so the output is byte-identical across runs.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import sentencepiece as spm

from ernie_pipeline.io.atomic import atomic_outputs


def train_sentencepiece(text_path: str | Path, model_path: str | Path, vocab_path: str | Path,
                        vocab_size: int, *, max_sentences: int = 0, character_coverage: float = 0.9995,
                        model_type: str = "bpe", hard_vocab_limit: bool = True, normalization: str = "nmt_nfkc"
                        ) -> None:
    """Train on the first ``max_sentences`` lines of ``text_path`` (0 = all); ``hard_vocab_limit``
    False lets a small corpus end with fewer than ``vocab_size`` pieces instead of failing;
    ``normalization``: sentencepiece's rule ("identity" keeps text that is already normalised)."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "eng")
        spm.SentencePieceTrainer.train(
            input=str(text_path),
            model_prefix=prefix,
            vocab_size=vocab_size,
            model_type=model_type,
            hard_vocab_limit=hard_vocab_limit,
            normalization_rule_name=normalization,
            character_coverage=character_coverage,
            num_threads=1,
            shuffle_input_sentence=False,
            input_sentence_size=max_sentences,
            minloglevel=2,
        )
        with atomic_outputs(model_path, vocab_path) as (tmp_model, tmp_vocab):
            tmp_model.write_bytes(_without_paths(Path(prefix + ".model").read_bytes()))
            shutil.copyfile(prefix + ".vocab", tmp_vocab)


def _without_paths(model: bytes) -> bytes:
    """The model with the training paths (a temporary prefix, the input file) cleared from its
    trainer spec, so the same text and settings give a byte-identical ``eng.model``."""
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model)
    proto.trainer_spec.ClearField("model_prefix")
    proto.trainer_spec.ClearField("input")
    return proto.SerializeToString(deterministic=True)


def read_pieces(vocab_path: str | Path) -> list[str]:
    pieces = []
    with open(vocab_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            piece, sep, _score = line.rstrip("\n").partition("\t")
            if not sep or not piece:
                raise ValueError(f"{vocab_path}:{number}: expected 'piece<TAB>score'")
            pieces.append(piece)
    return pieces
