"""Print where each artifact of the workflow is (``python -m ernie_pipeline.workflow.where``), from
``snakemake --summary``: one line per output file with the rule that made it and its status."""

from __future__ import annotations

import csv
import io
import subprocess
import sys


def read_summary(text: str) -> list[dict[str, str]]:
    """The rows of ``snakemake --summary`` / ``--detailed-summary`` (tab-separated, a header line first:
    output_file, date, rule, log-file(s), [input-file(s), shellcmd,] status, plan); lines before the header
    (snakemake's own messages) are skipped."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("output_file\t")), len(lines))
    return list(csv.DictReader(io.StringIO("\n".join(lines[start:])), delimiter="\t"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rows = read_summary(subprocess.run([sys.executable, "-m", "snakemake", "--summary", *argv],
                                       check=True, capture_output=True, text=True).stdout)
    if not rows:
        print("no artifacts: run the workflow first")
        return 1
    width = max(len(r["rule"]) for r in rows)
    print("Artifacts (rule, status, path):")
    for row in rows:
        print(f"  {row['rule']:<{width}}  {row['status']:<10}  {row['output_file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
