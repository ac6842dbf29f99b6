"""What every Snakemake job script (``scripts/<stage>/*.py``) does around its work: ``rules/common.smk`` puts this
package on ``PYTHONPATH`` for the jobs it starts (importable in any environment, pip-installed or not), and
``run(main, snakemake)`` sends the job's logging to its log file, then calls ``main(snakemake)``.

A script imports this module first: ``import ernie_pipeline`` puts the system zlib ahead of any copy a later
library (Paddle 2.6) brings.
"""

from __future__ import annotations

from ernie_pipeline.io import logs


def run(main, snakemake) -> None:
    """Run a job script's ``main`` with its log file set up (``snakemake``: the object Snakemake's script preamble
    defines; a script calls this under ``if __name__ == "__main__"``, since worker processes started by spawn
    import the file again without that preamble)."""
    logs.to_file(snakemake.log[0])
    main(snakemake)


def clean_removals(snakemake):
    """For a merge job: the function of its shards' document counts that gives the positions the clean stage
    removes (its ``clean`` input: the group's decisions), or None when the stage is off."""
    if not snakemake.input.clean:
        return None
    from functools import partial

    from ernie_pipeline.clean.decisions import removed_documents

    return partial(removed_documents, snakemake.input.clean, snakemake.wildcards.dataset)


def clean_group(snakemake, *kinds: str):
    """For a clean grouping job: its group's shards (``params.shards``) with their input files of ``kinds``."""
    from ernie_pipeline.clean.group import group_shards

    return group_shards(snakemake.params.shards, {kind: list(snakemake.input[kind]) for kind in kinds})
