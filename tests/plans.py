"""What a Snakemake dry run plans, read from its machine-readable outputs instead of console text:
the job DAG (``--dag dot``: every job with its rule, wildcards and whether it needs to run, and the edges)
and the file summary (``--detailed-summary``: every output file with its rule, status and plan)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from conftest import run_snakemake
from ernie_pipeline.workflow.where import read_summary

# snakemake's DAG in DOT: a node per job (dashed: up to date), an edge from a dependency to its consumer
_NODE = re.compile(r'^\s*(\d+)\[label = "([^"]*)", color = "[^"]*", style="([^"]*)"\];$', re.M)
_EDGE = re.compile(r"^\s*(\d+) -> (\d+)$", re.M)


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str]  # those a job does not share with the jobs it depends on (snakemake's label)
    needrun: bool
    dependencies: list["Job"] = field(default_factory=list)


def job_dag(workdir: Path, *args: str) -> list[Job]:
    """Every job of the DAG for ``args`` (targets, --configfile, ...) in ``workdir``, in snakemake's order."""
    dot = run_snakemake(workdir, "--dag", "dot", *args).stdout
    jobs = {}
    for node, label, style in _NODE.findall(dot):
        rule, *wildcards = label.split("\\n")
        jobs[node] = Job(rule, dict(w.split(": ", 1) for w in wildcards), "dashed" not in style)
    for dependency, consumer in _EDGE.findall(dot):
        jobs[consumer].dependencies.append(jobs[dependency])
    return list(jobs.values())


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """{rule: number of jobs a run would execute} (the dry run's job stats, without the target rule)."""
    return dict(Counter(job.rule for job in job_dag(workdir, *args) if job.needrun and job.rule != "all"))


def planned_outputs(workdir: Path, *args: str, rule: str | None = None) -> list[str]:
    """The output files a run would (re)build, in the summary's order; only ``rule``'s if given."""
    rows = read_summary(run_snakemake(workdir, "--detailed-summary", *args).stdout)
    return [r["output_file"] for r in rows if r["plan"] == "update pending" and rule in (None, r["rule"])]
