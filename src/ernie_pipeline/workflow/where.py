"""Print where each artifact of the workflow is (``python -m ernie_pipeline.workflow.where``), from
``snakemake --summary``: one line per output file with the rule that made it and its status. A training
checkpoint is also verified against the checksums its ``trainer_state.json`` records (``corrupt``: a file missing,
truncated or altered, which Snakemake's own status cannot see). The clean stage's totals follow: documents removed
per dataset, by reason, and the duplicate rate."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path


def read_summary(text: str) -> list[dict[str, str]]:
    """The rows of ``snakemake --summary`` / ``--detailed-summary`` (tab-separated, a header line first:
    output_file, date, rule, log-file(s), [input-file(s), shellcmd,] status, plan); lines before the header
    (snakemake's own messages) are skipped."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("output_file\t")), len(lines))
    return list(csv.DictReader(io.StringIO("\n".join(lines[start:])), delimiter="\t"))


def checkpoint_problem(path: Path) -> str | None:
    """What is wrong with the training checkpoint folder ``path`` (None: intact, or not a checkpoint)."""
    from ernie_pipeline.train.checkpoint import STATE_FILE, CheckpointError, verify_checkpoint

    if not (path / STATE_FILE).is_file():
        return None
    try:
        verify_checkpoint(path)
    except CheckpointError as err:
        return str(err)
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rows = read_summary(subprocess.run([sys.executable, "-m", "snakemake", "--summary", *argv],
                                       check=True, capture_output=True, text=True).stdout)
    if not rows:
        print("no artifacts: run the workflow first")
        return 1
    width = max(len(r["rule"]) for r in rows)
    print("Artifacts (rule, status, path):")
    # the summary's paths are relative to the workflow's folder (snakemake's --directory / -d)
    flags = [k for k, arg in enumerate(argv[:-1]) if arg in ("--directory", "-d")]
    workdir = Path(argv[flags[-1] + 1]) if flags else Path()
    corrupt = 0
    for row in rows:
        problem = checkpoint_problem(workdir / row["output_file"])
        corrupt += problem is not None
        print(f"  {row['rule']:<{width}}  {'corrupt' if problem else row['status']:<10}  {row['output_file']}")
        if problem:
            print(f"  {'':<{width}}  {'':<10}  {problem}")
    for row in rows:
        if row["rule"] == "clean_decisions" and row["output_file"].endswith("stats.json"):
            stats_path = workdir / row["output_file"]
            if stats_path.is_file():
                from ernie_pipeline.clean.report import summary_lines

                print(f"\nClean data ({row['output_file']}):")
                print("\n".join(f"  {line}" for line in summary_lines(json.loads(stats_path.read_text(encoding="utf-8")))))
    return 1 if corrupt else 0


if __name__ == "__main__":
    sys.exit(main())
