"""Memory of the token-file reader (``IdsDataset``) as the corpus grows: what a training process holds.

    .venv/bin/python bench/ids_reader_memory.py [--factors 1 16 64 256] [--out bench/results/ids-reader-memory.md]

Replicates the default workflow's token files (``results/token_ids/inews``) ``factor`` times with
``merge_ids`` (input order, into ``--work``, default a temporary folder), then in a fresh process per factor
opens the pair three times (what ``pretrain`` held: one reader per split) and reads ``--samples`` training
samples spread over the whole corpus through ``ErnieDataset``, then builds the train and the valid sample
map (100 x ``--samples`` rows each) as the ``index_map`` jobs do, and merges ``factor`` copies of the
source as shards in a seeded document permutation as the ``token_ids`` merge does, watching the peak
anonymous memory of each. Reports the process's anonymous memory (RssAnon: what
the kernel cannot drop) and file-backed pages (RssFile: memory maps, droppable) after opening and after
sampling, and the slope in bytes of anonymous memory per sentence between the smallest and largest factor.
``--src`` measures another checkout's ``src`` (e.g. the previous reader) on the same files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "results/token_ids/inews"


def _status() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


class _PeakAnon:
    """The highest RssAnon seen while the block runs (sampled every 5 ms by a thread)."""

    def __enter__(self):
        import threading

        self.base, self.peak, self._stop = _status()["RssAnon"], 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _status()["RssAnon"] - self.base)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status()["RssAnon"] - self.base)


def _child_index_map(prefix: str, samples: int) -> dict:
    """Peak anonymous memory of building the train and the valid sample map (``samples`` rows each)."""
    import ernie_pipeline  # noqa: F401
    from ernie_pipeline.index.index_map import SampleMapSettings, build_index_map

    settings = SampleMapSettings(split="949,50,1", short_seq_prob=0.1, max_seq_len=128, seed=1234, binary_head=True)
    peaks = {}
    for split in ("train", "valid"):
        with tempfile.TemporaryDirectory() as work, _PeakAnon() as peak:
            record = build_index_map(prefix, split, f"{work}/map.npy", settings, samples)
        peaks[f"index_map_{split}"] = peak.peak
        peaks[f"index_map_{split}_map_bytes"] = record["rows"] * 3 * 8
    return peaks


def _child_merge(factor: int) -> dict:
    """Peak anonymous memory of the token_ids merge: ``factor`` copies of the source pair as shards, in a
    seeded document permutation (what ``token_ids.shuffle`` does)."""
    import ernie_pipeline  # noqa: F401
    import numpy as np

    from ernie_pipeline.tokenize.merge import merge_ids
    from ernie_pipeline.tokenize.token_files import IdsDataset

    order = np.random.RandomState(1).permutation(IdsDataset(SOURCE).num_docs * factor)
    with tempfile.TemporaryDirectory() as work, _PeakAnon() as peak:
        merge_ids([SOURCE] * factor, f"{work}/merged", order)
    return {"merge": peak.peak, "merge_order_bytes": order.nbytes}


def _child_reader(prefix: str, samples: int) -> dict:
    import ernie_pipeline  # noqa: F401
    import numpy as np

    from ernie_pipeline.index.dataset import ErnieDataset
    from ernie_pipeline.tokenize.token_files import IdsDataset
    from ernie_pipeline.index.masking import MaskingSettings, Vocab
    from ernie_pipeline.tokenize.tokenizer import load_tokenizer

    masking = MaskingSettings(max_seq_len=128, binary_head=True, masked_lm_prob=0.15, max_ngrams=3,
                              favor_longer_ngram=False, geometric_dist=False)
    vocab = Vocab.from_tokenizer(load_tokenizer(str(REPO / "results/vocab/tokenizer")))
    import time

    before = _status()
    started = time.perf_counter()
    datasets = [IdsDataset(prefix) for _ in range(3)]
    seconds = (time.perf_counter() - started) / 3
    opened = _status()
    data = datasets[0]
    # a sample map over the whole corpus: runs of 4 sentences at evenly spread places
    starts = np.linspace(0, len(data) - 8, samples).astype(np.int64)
    index_map = np.stack([starts, starts + 4, np.full(samples, 120)], axis=1).astype(np.int64)
    dataset = ErnieDataset(data, index_map, vocab, masking, seed=5)
    for i in range(samples):
        dataset[i]
    sampled = _status()
    return {"sentences": len(data), "open_seconds": seconds, "anon_open": opened["RssAnon"] - before["RssAnon"],
            "anon_sampled": sampled["RssAnon"] - before["RssAnon"], "file_sampled": sampled["RssFile"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--work", help="folder for the replicated token files (kept: reused by a rerun)")
    parser.add_argument("--src", default=str(REPO / "src"), help="the ernie_pipeline sources to measure")
    parser.add_argument("--out", default="bench/results/ids-reader-memory.md")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "PREFIX", "NUMBER"),
                        help="one measurement in this process: reader PREFIX SAMPLES | index_map PREFIX SAMPLES | "
                             "merge - FACTOR")
    args = parser.parse_args()
    sys.path.insert(0, args.src)
    if args.child:
        kind, prefix, number = args.child[0], args.child[1], int(args.child[2])
        measure = {"reader": lambda: _child_reader(prefix, number), "index_map": lambda: _child_index_map(prefix, 100 * number),
                   "merge": lambda: _child_merge(number)}[kind]
        print(json.dumps(measure()))
        return
    import ernie_pipeline  # noqa: F401
    from ernie_pipeline.tokenize.merge import merge_ids
    from ernie_pipeline.tokenize.token_files import paths_for

    work = Path(args.work or tempfile.mkdtemp(prefix="ids-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for factor in args.factors:
        prefix = work / f"x{factor}"
        if not paths_for(prefix)[1].is_file():
            merge_ids([SOURCE] * factor, prefix)
        row = {"factor": factor}
        # each measurement in a fresh process: memory freed by one would serve the next unseen
        for kind, number in (("reader", args.samples), ("index_map", args.samples), ("merge", factor)):
            done = subprocess.run([sys.executable, __file__, "--src", args.src, "--child", kind, str(prefix),
                                   str(number)], check=True, capture_output=True, text=True)
            row.update(json.loads(done.stdout.strip().splitlines()[-1]))
        rows.append(row)
    first, last = rows[0], rows[-1]
    slope = (last["anon_sampled"] - first["anon_sampled"]) / max(1, last["sentences"] - first["sentences"])
    source = "this checkout" if Path(args.src) == REPO / "src" else args.src
    lines = [f"# IdsDataset memory ({source}), 3 readers + {args.samples} samples per process", "",
             "| factor | sentences | s per open | anon after open (MB) | anon after sampling (MB) | file-backed (MB) "
             "| index_map train: peak anon (MB) | of which the map | index_map valid: peak anon (MB) "
             "| shuffled merge: peak anon (MB) | of which the order |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['factor']}x | {r['sentences']:,} | {r['open_seconds']:.2f} | {r['anon_open'] / 1e6:.1f} | {r['anon_sampled'] / 1e6:.1f} | "
              f"{r['file_sampled'] / 1e6:.1f} | {r['index_map_train'] / 1e6:.1f} | {r['index_map_train_map_bytes'] / 1e6:.1f} | "
              f"{r['index_map_valid'] / 1e6:.1f} | {r['merge'] / 1e6:.1f} | {r['merge_order_bytes'] / 1e6:.1f} |"
              for r in rows]
    lines += ["", f"reader slope: {slope:.2f} bytes of anonymous memory per sentence "
              f"({first['factor']}x -> {last['factor']}x); at 1.6e9 sentences (WuDao): {slope * 1.6e9 / 1e9:.1f} GB"]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
