"""Byte-compare every artifact of a full tiny run made by two checkouts of this repository.

    python bench/compare_runs.py --before <git rev> [--after <git rev or "worktree">] --out bench/results/F.md
    python bench/compare_runs.py --before HEAD --python-before /path/to/other/venv/bin/python   # another stack
    python bench/compare_runs.py --before <rev> --after-config '{clean: {exact: false}}'          # a setting off

Each checkout runs the whole workflow (`all` plus the corpus jsonl, as the tests' shared run does) on
tests/config.tiny.yaml in a fresh folder, with its own ``src`` first on PYTHONPATH (the compiled kernels are
copied in from this checkout, so both runs use the same build). Then every file under ``results/`` and
``data/sample/`` is hashed. Files that record when or how long something ran (Snakemake logs and benchmarks,
VisualDL event files, timings in summary.json / train_log.jsonl) are compared with those fields removed.
Used to show that a refactoring leaves every artifact byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DOWNLOADS = REPO / "data" / "downloads"
# keys whose values are clock readings or durations: removed before comparing
TIMING_KEYS = {"seconds", "tokens_per_second", "steps_per_second"}


def checkout(rev: str, into: Path) -> Path:
    """A plain copy of the repository at ``rev`` (``worktree``: the working tree as it is)."""
    into.mkdir(parents=True)
    if rev == "worktree":
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                               capture_output=True, text=True).stdout.split()
        for name in files:
            if (REPO / name).is_file():
                (into / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, into / name)
    else:
        archive = subprocess.run(["git", "archive", rev], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for built in (REPO / "src" / "ernie_pipeline").rglob("_*.so"):
        for target in into.joinpath("src", "ernie_pipeline").rglob(built.stem.split(".")[0] + ".cpp"):
            shutil.copy2(built, target.parent / built.name)
    return into


def run_tiny(code: Path, workdir: Path, python: str, overrides: dict) -> None:
    config = yaml.safe_load((code / "tests" / "config.tiny.yaml").read_text())
    config["sample"]["downloads"] = str(DOWNLOADS)
    for section, values in overrides.items():
        config[section] = {**config.get(section, {}), **values}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    env = dict(os.environ, PYTHONPATH=str(code / "src"))
    name = next(iter(config["datasets"]))
    cmd = [python, "-m", "snakemake", "--snakefile", str(code / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", "all", f"results/corpus/{name}.jsonl"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stderr[-6000:]}")


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def digest(path: Path, workdir: Path) -> str:
    """sha256 of the file, or of its JSON content without timing keys for summary/log files (the run's
    folder replaced by a placeholder)."""
    if path.name in {"summary.json", "train_log.jsonl"}:
        text = path.read_text().replace(str(workdir), "<workdir>")
        lines = text.splitlines() if path.suffix == ".jsonl" else [text]
        text = "\n".join(json.dumps(_without_timings(json.loads(line)), sort_keys=True) for line in lines if line)
        return "json:" + hashlib.sha256(text.encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compared_files(workdir: Path) -> dict[str, str]:
    skipped_parts = {"logs", "benchmarks", "vdl_log", ".snakemake"}
    out = {}
    for top in ("results", "data/sample"):
        for path in sorted((workdir / top).rglob("*")):
            rel = path.relative_to(workdir)
            if path.is_file() and not skipped_parts & set(rel.parts) and not path.name.startswith("vdlrecords"):
                out[str(rel)] = digest(path, workdir)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision of the reference run")
    parser.add_argument("--after", default="worktree", help="git revision, or 'worktree' (default)")
    parser.add_argument("--python-before", default=sys.executable, help="the Python (venv) of the reference run")
    parser.add_argument("--python-after", default=sys.executable, help="the Python (venv) of the other run")
    parser.add_argument("--after-config", type=yaml.safe_load, default={},
                        help="YAML mapping of config sections merged into the tiny config of the other run")
    parser.add_argument("--out", type=Path, help="write the comparison table here (markdown)")
    args = parser.parse_args(argv)
    digests = {}
    with tempfile.TemporaryDirectory(prefix="compare-runs-") as tmp:
        for label, rev, python, overrides in (("before", args.before, args.python_before, {}),
                                              ("after", args.after, args.python_after, args.after_config)):
            code = checkout(rev, Path(tmp, label + "-code"))
            workdir = Path(tmp, label + "-run")
            workdir.mkdir()
            run_tiny(code, workdir, python, overrides)
            digests[label] = compared_files(workdir)
            print(f"{label} ({rev}): {len(digests[label])} files", file=sys.stderr)
    before, after = digests["before"], digests["after"]
    names = sorted(set(before) | set(after))
    differing = [n for n in names if before.get(n) != after.get(n)]
    settings = f" with {json.dumps(args.after_config)}" if args.after_config else ""
    lines = [f"# Artifacts of a full tiny run: {args.before} vs {args.after}{settings}", "",
             f"Files compared: {len(names)}; identical: {len(names) - len(differing)}; differing: {len(differing)}",
             "", "| file | before | after |", "|---|---|---|"]
    lines += [f"| {n} | {before.get(n, 'missing')[:16]} | {after.get(n, 'missing')[:16]} |" for n in names]
    report = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(report)
    print(report if differing else "\n".join(lines[:3]))
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
