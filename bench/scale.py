"""Every corpus-wide stage's time and peak memory as the corpus grows: the slope that decides WuDao.

    .venv/bin/python bench/scale.py [--factors 1 8 64 256] [--out bench/results/scale.md] [--work DIR]

Builds, from the default workflow's outputs (``snakemake results/token_ids/inews_ids.npy``), a corpus
``factor`` times the sample without re-segmenting: the token shards of ``results/token_ids/inews/`` and
the segmented shards of ``results/segmented/inews/`` each named ``factor`` times (copies ``k`` of a shard
count as other shards: their documents are drawn and shuffled as other documents). Then, each stage a
fresh process as its rule runs it, config.yaml's settings:

* ``corpus_jsonl``: the on-request corpus jsonl of all segmented shards (``merge_jsonl``), shuffled;
* ``merge``: ``token_ids``'s shuffled merge of all token shards (``merge_shards``, ``tokenize.merge_bucket_mb``);
* ``index_map train`` / ``index_map valid``: one split's sample map over the merged files;
* ``pretrain``: ``train.pretrain`` for ``--steps`` steps on the merged files with ``--workers`` DataLoader
  worker processes (the maps built for those steps);
* ``scheme2_text`` / ``scheme2_vocab``: scheme 2's seeded sample (``--scheme2-sample-mb``) and sentencepiece.

A thread samples the whole process tree every 20 ms (``/proc/<pid>/status``): peak anonymous memory
(RssAnon, what the kernel cannot drop) summed over the tree and of its largest process, and peak
file-backed pages (RssFile: memory maps and the shared library text, droppable). The slope between the
smallest and largest factor, in bytes per sentence, extrapolates each stage to WuDao-200GB's 1.6e9
sentences. Writes a Markdown report to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
TOKEN_SHARDS = REPO / "results/token_ids/inews"
SEGMENTED = REPO / "results/segmented/inews"
WUDAO_SENTENCES = 1.6e9
STAGES = ("corpus_jsonl", "merge", "index_map train", "index_map valid", "pretrain", "scheme2_text", "scheme2_vocab")


def _memory(pid: int) -> tuple[int, int]:
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return fields.get("RssAnon", 0), fields.get("RssFile", 0)


def _tree(root: int) -> list[int]:
    import psutil

    try:
        process = psutil.Process(root)
        return [root] + [child.pid for child in process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def run_measured(command: list[str]) -> dict:
    """Run ``command``; its wall time and the peaks of its process tree's memory."""
    peaks = {"tree_anon": 0, "tree_file": 0, "process_anon": 0, "processes": 0}
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def watch():
        while not done.wait(0.02):
            pids = _tree(child.pid)
            memory = [_memory(pid) for pid in pids]
            peaks["tree_anon"] = max(peaks["tree_anon"], sum(a for a, _ in memory))
            peaks["tree_file"] = max(peaks["tree_file"], sum(f for _, f in memory))
            peaks["process_anon"] = max([peaks["process_anon"]] + [a for a, _ in memory])
            peaks["processes"] = max(peaks["processes"], len(pids))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = child.communicate()
    done.set()
    watcher.join()
    if child.returncode:
        raise RuntimeError(f"{command} failed:\n{err[-3000:]}")
    return {**peaks, "seconds": time.perf_counter() - start, "result": json.loads(out.strip().splitlines()[-1])}


def _config() -> dict:
    sys.path.insert(0, str(REPO / "src"))
    from ernie_pipeline.settings import load_config

    return load_config(REPO / "config.yaml")


def _train_settings(config: dict, steps: int, workers: int):
    from ernie_pipeline.train.settings import TrainSettings

    # checkpoints only at the end; one evaluation
    return TrainSettings.from_config(dict(config["train"], max_steps=steps, save_steps=steps, checkpoint_steps=steps,
                                          eval_freq=steps, logging_freq=steps, num_workers=workers),
                                     blend=[["inews", 1.0]])


def child(stage: str, work: Path, factor: int, steps: int, workers: int, sample_mb: float) -> dict:
    """One stage in this (fresh) process; returns what it reports."""
    import ernie_pipeline  # noqa: F401  (system zlib before paddle)

    config = _config()
    prefix = str(work / "merged")
    train = _train_settings(config, steps, workers)
    maps = {split: [str(work / f"{split}_map.npy")] for split in ("train", "valid", "test")}
    if stage == "merge":
        from ernie_pipeline.segment.settings import JsonlSettings
        from ernie_pipeline.tokenize.merge import merge_shards

        shards = sorted(p.name[: -len(".stats.json")] for p in TOKEN_SHARDS.glob("*.stats.json")) * factor
        merged = merge_shards([TOKEN_SHARDS / s for s in shards], [TOKEN_SHARDS / f"{s}.stats.json" for s in shards],
                              prefix, JsonlSettings.from_config({**config["jsonl"], "shuffle": True}),
                              bucket_mb=config["tokenize"]["merge_bucket_mb"])
        return {"sentences": merged["sentences"], "tokens": merged["tokens"], "documents": merged["documents"]}
    if stage == "corpus_jsonl":
        from ernie_pipeline.segment.corpus_jsonl import merge_jsonl
        from ernie_pipeline.segment.settings import JsonlSettings

        counts = merge_jsonl(sorted(SEGMENTED.glob("*.jsonl")) * factor, work / "corpus.jsonl",
                             JsonlSettings.from_config({**config["jsonl"], "shuffle": True}))
        (work / "corpus.jsonl").unlink()
        sentences = sum(json.loads(p.read_text())["sentences"] for p in SEGMENTED.glob("*.stats.json")) * factor
        return {"sentences": sentences, **counts}
    if stage.startswith("index_map"):
        from ernie_pipeline.index.index_map import build_index_map
        from ernie_pipeline.train.chain import map_samples

        splits = ["train"] if stage.endswith("train") else ["valid", "test"]  # the test map rides along
        rows = 0
        for split in splits:
            rows += build_index_map(prefix, split, maps[split][0], train.sample_map(config["index"]),
                                    map_samples(train)[split])["rows"]
        return {"rows": rows}
    if stage == "pretrain":
        from ernie_pipeline.train.build import TrainData
        from ernie_pipeline.train.loop import pretrain

        out = work / "pretrain"
        data = TrainData([prefix], str(REPO / "results/vocab/tokenizer"), maps, train.sample_map(config["index"]))
        summary = pretrain(data, train, str(out), str(out / "summary.json"))
        shutil.rmtree(out)
        return {"steps": steps, **{k: v for k, v in summary.items() if "loss" in k and not isinstance(v, (list, dict))}}
    if stage == "scheme2_text":
        from ernie_pipeline.segment.settings import JsonlSettings
        from ernie_pipeline.vocab.scheme2 import pretokenize_shards
        from ernie_pipeline.vocab.settings import VocabSettings

        segmented = sorted(SEGMENTED.glob("*.jsonl"))
        shards = [("inews", f"{path.name[:-len('.jsonl')]}.copy{k}", path) for k in range(factor) for path in segmented]
        vocab = VocabSettings.from_config({**config["vocab"], "scheme2_sample_mb": sample_mb})
        lines = pretokenize_shards(shards, work / "pretokenized.txt", vocab, JsonlSettings.from_config(config["jsonl"]))
        return {"lines": lines, "mb": (work / "pretokenized.txt").stat().st_size / 1e6}
    if stage == "scheme2_vocab":
        from ernie_pipeline.vocab.scheme2 import train_scheme2

        train_scheme2(work / "pretokenized.txt", work / "spm.model", work / "spm.vocab",
                      config["vocab"]["scheme2_vocab_size"], config["vocab"]["scheme2_model_type"])
        return {"pieces": sum(1 for _ in open(work / "spm.vocab", encoding="utf-8"))}
    raise ValueError(stage)


def _mb(value: float) -> str:
    return f"{value / 1e6:,.1f}"


def _held(row: dict) -> float:
    """Bytes of its own output a stage must hold in memory: an index map's rows (uint32 x 3)."""
    return row["result"].get("rows", 0) * 12


def report(rows: list[dict], args) -> str:
    lines = [f"# Corpus-wide stages at 1x to {max(args.factors)}x the sample (this checkout)", "",
             f"`bench/scale.py --factors {' '.join(map(str, args.factors))} --steps {args.steps} --workers "
             f"{args.workers} --scheme2-sample-mb {args.scheme2_sample_mb}`; memory in MB, peaks over the "
             "whole process tree (sampled every 20 ms); \"its output\": the index map it builds in memory "
             "(one epoch of its split at least, as upstream's build_mapping).", "",
             "| factor | sentences | stage | s | anon, tree | anon, largest process | of which its output | "
             "file-backed, tree | processes |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['factor']}x | {row['sentences']:,} | {row['stage']} | {row['seconds']:.1f} | "
                     f"{_mb(row['tree_anon'])} | {_mb(row['process_anon'])} | {_mb(_held(row))} | "
                     f"{_mb(row['tree_file'])} | {row['processes']} |")
    lines += ["", "Slopes of the largest process's anonymous memory beyond its output, in bytes per sentence of the "
              "corpus, from the smallest and from the second largest factor to the largest; WuDao-200GB "
              f"({WUDAO_SENTENCES:.1e} sentences) extrapolated from the latter (plus the output, for an index map: "
              "its rows grow with the corpus):", "",
              "| stage | slope, all factors | slope, two largest | anon at WuDao, largest process (GB) | "
              "s per million sentences | time at WuDao, one job (h) |", "|---|---|---|---|---|---|"]
    for stage in STAGES:
        measured = sorted((r for r in rows if r["stage"] == stage), key=lambda r: r["factor"])
        if len(measured) < 2:
            continue

        def slope(low, high, key=lambda r: r["process_anon"] - _held(r)):
            return (key(high) - key(low)) / (high["sentences"] - low["sentences"])

        low, before, high = measured[0], measured[-2], measured[-1]
        tail = slope(before, high)
        beyond = high["process_anon"] - _held(high) + max(tail, 0) * (WUDAO_SENTENCES - high["sentences"])
        output = _held(high) / high["sentences"] * WUDAO_SENTENCES
        rate = slope(before, high, key=lambda r: r["seconds"]) * 1e6
        hours = (high["seconds"] + rate * (WUDAO_SENTENCES - high["sentences"]) / 1e6) / 3600
        lines.append(f"| {stage} | {slope(low, high):.3f} | {tail:.3f} | {(beyond + output) / 1e9:.2f} | "
                     f"{rate:.2f} | {hours:.2f} |")
    lines += ["", "What each run reported:", "", "```"]
    lines += [json.dumps({k: r[k] for k in ("factor", "stage", "result")}) for r in rows]
    return "\n".join(lines + ["```", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--steps", type=int, default=20, help="pretrain steps per run")
    parser.add_argument("--workers", type=int, default=2, help="train.num_workers of the pretrain runs")
    parser.add_argument("--scheme2-sample-mb", type=float, default=25,
                        help="vocab.scheme2_sample_mb of the scheme 2 runs (about the sample's size)")
    parser.add_argument("--out", default="bench/results/scale.md")
    parser.add_argument("--work", help="scratch folder (default: a temporary one beside results/)")
    parser.add_argument("--child", choices=STAGES)
    parser.add_argument("--factor", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.work), args.factor, args.steps, args.workers,
                               args.scheme2_sample_mb)))
        return
    if not (TOKEN_SHARDS.is_dir() and SEGMENTED.is_dir()):
        sys.exit("run `snakemake --cores 2 results/token_ids/inews_ids.npy` first")
    rows = []
    scratch = Path(args.work or tempfile.mkdtemp(prefix=".scale.", dir=REPO / "results"))
    for factor in args.factors:
        work = scratch / f"x{factor}"
        work.mkdir(parents=True, exist_ok=True)
        sentences = None
        try:
            for stage in args.stages:
                command = [sys.executable, __file__, "--child", stage, "--work", str(work), "--factor", str(factor),
                           "--steps", str(args.steps), "--workers", str(args.workers),
                           "--scheme2-sample-mb", str(args.scheme2_sample_mb)]
                measured = run_measured(command)
                sentences = measured["result"].get("sentences", sentences)
                rows.append({"factor": factor, "sentences": sentences or 0, "stage": stage, **measured})
                print(json.dumps({k: v for k, v in rows[-1].items()}), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if not args.work:
        scratch.rmdir()
    Path(args.out).write_text(report(rows, args))
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
