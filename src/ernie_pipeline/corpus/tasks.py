"""CLUE-format classification tasks read from files (config ``eval.tasks``).

A task's train, dev and test files hold one JSON object per line (CLUE's ``.json`` files are JSON lines):

* single sentence (TNEWS, IFLYTEK, EPRSTMT): ``{"sentence": ..., "label": ...}``;
* sentence pair (AFQMC, OCNLI, CMNLI, BUSTM): ``{"sentence1": ..., "sentence2": ..., "label": ...}``.

Which keys hold the text (``text_keys``: one for a single sentence, two for a pair) and the label
(``label_key``) is the task's setting; labels may be strings or integers (``label_desc`` and any other key is
ignored). The label set is the task's ``labels``, or the sorted distinct labels of its train file. FewCLUE's
layout (``train_few_all.json``, ``dev_few_all.json``, ``test_public.json``) is three such files. A line that
is not a JSON object, is not UTF-8 (a GBK file), lacks a text or its label, or carries a label outside the set is
an error naming the file and line; a UTF-8 byte-order mark at the start is dropped, as the corpus readers do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ernie_pipeline.corpus.readers import CorpusFormatError, numbered_lines
from ernie_pipeline.settings import from_section

SPLITS = ("train", "dev", "test")


# what decontamination reads of a task: a change to the others (labels, lengths, slices) leaves its table as it is
TEXT_ONLY_KEYS = ("dev", "test", "text_keys", "label_key")


@dataclass(frozen=True)
class TaskSettings:
    """One task of config ``eval.tasks``."""

    train: str  # the labelled files, one JSON object a line
    dev: str
    test: str
    text_keys: tuple[str, ...]  # ("sentence",) or ("sentence1", "sentence2")
    label_key: str
    labels: tuple | None  # the label set in id order; None: the sorted distinct labels of the train file
    max_seq_len: int  # tokens of a tokenised example (pairs: both sentences), longer ones truncated
    max_examples: int  # the first this many examples of each file (0: all): a slice for quick runs

    def __post_init__(self):
        object.__setattr__(self, "text_keys", tuple(self.text_keys))
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(self.labels))

    @classmethod
    def from_config(cls, name: str, section: Mapping) -> TaskSettings:
        return from_section(cls, section, f"eval.tasks.{name}")

    @classmethod
    def for_text(cls, name: str, section: Mapping) -> TaskSettings:
        """The task read for its dev and test text only (decontamination): ``section`` holds ``TEXT_ONLY_KEYS``;
        what else a task says (labels, lengths, slices) does not apply."""
        text = {key: section[key] for key in TEXT_ONLY_KEYS}
        return from_section(cls, {"train": text["dev"], "labels": None, "max_seq_len": 0, "max_examples": 0, **text},
                            f"eval.tasks.{name}")

    def path(self, split: str) -> str:
        return {"train": self.train, "dev": self.dev, "test": self.test}[split]


@dataclass(frozen=True)
class Example:
    texts: tuple[str, ...]  # one sentence, or a pair
    label: int  # the label's index in the task's label set


def read_records(path: str | Path, task: TaskSettings) -> list[tuple[tuple[str, ...], object, int]]:
    """(texts, raw label, line number) of every record of a task file (the first ``max_examples``)."""
    records = []
    try:
        lines = numbered_lines(Path(path))
        for number, line in lines:
            if task.max_examples and len(records) == task.max_examples:
                break
            if isinstance(line, CorpusFormatError):
                raise ValueError(f"{line}: task files are UTF-8 (convert another encoding first, e.g. "
                                 "iconv -f GBK -t UTF-8)")
            if not line.strip():
                continue
            records.append(_record(line, f"{path}:{number}", task) + (number,))
    except CorpusFormatError as err:  # the file as a whole: empty, binary, a corrupt .gz
        raise ValueError(str(err)) from None
    if not records:
        raise ValueError(f"{path}: no examples")
    return records


def _record(line: str, where: str, task: TaskSettings) -> tuple[tuple[str, ...], object]:
    """(texts, raw label) of one line at ``where`` (file:line)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not a JSON object ({err.msg})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: not a JSON object")
    missing = [k for k in task.text_keys if not isinstance(record.get(k), str)]
    if missing:
        raise ValueError(f"{where}: no text under {', '.join(map(repr, missing))} (eval text_keys "
                         f"{list(task.text_keys)})")
    label = record.get(task.label_key)
    if label is None or isinstance(label, (dict, list, bool)):
        raise ValueError(f"{where}: unlabelled (no string or integer under {task.label_key!r})")
    return tuple(record[k] for k in task.text_keys), label


def label_set(task: TaskSettings, train_records: list) -> tuple:
    """The task's labels in id order: as configured, or the train file's distinct labels sorted (numbers
    numerically, strings as strings)."""
    if task.labels is not None:
        return task.labels
    labels = {label for _, label, _ in train_records}
    return tuple(sorted(labels, key=lambda label: (isinstance(label, str), label)))


def read_task(task: TaskSettings) -> tuple[tuple, dict[str, list[Example]]]:
    """The task's label set and its examples per split."""
    records = {split: read_records(task.path(split), task) for split in SPLITS}
    labels = label_set(task, records["train"])
    ids = {label: k for k, label in enumerate(labels)}
    if len(ids) < 2:
        raise ValueError(f"{task.train}: a classification task needs 2 labels at least, found {list(labels)}")
    examples = {}
    for split, rows in records.items():
        examples[split] = []
        for texts, label, number in rows:
            if label not in ids:
                raise ValueError(f"{task.path(split)}:{number}: label {label!r} is not one of {list(labels)}"
                                 f"{_type_hint(label, labels, task)}")
            examples[split].append(Example(texts, ids[label]))
    return labels, examples


def _type_hint(label, labels: tuple, task: TaskSettings) -> str:
    """Where the file writes a label as a number and the configured labels as strings (or the other way round)."""
    if task.labels is None or str(label) not in {str(known) for known in labels}:
        return ""
    kind = "a string" if isinstance(label, str) else "a number"
    configured = "strings" if all(isinstance(known, str) for known in labels) else "numbers"
    return (f": the file gives {kind}, the task's labels (config eval.tasks ... labels) are {configured}; write them "
            f"as the file does ({[type(label)(known) for known in labels]})")
