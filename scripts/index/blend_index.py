"""Snakemake job: one split's blending index (which dataset, which of its samples) for a blend."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.data.blend import build_blend_index, one_pass_sizes
    from ernie_pipeline.data.index_map import read_record

    logs.to_file(snakemake.log[0])
    p = snakemake.params
    blend = [tuple(pair) for pair in p.blend]
    sizes = dict(p.sizes)
    if snakemake.input.maps:  # valid, test: one pass over each dataset's map
        rows = {name: read_record(path)["rows"] for (name, _), path in zip(blend, snakemake.input.maps)}
        sizes = one_pass_sizes(blend, rows)
    print(build_blend_index(blend, sizes, snakemake.output.blend))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
