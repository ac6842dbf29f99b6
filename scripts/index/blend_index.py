"""Snakemake job: one split's blending index (which dataset, which of its samples) for a blend."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.index.blend import build_blend_index, one_pass_sizes
    from ernie_pipeline.index.index_map import read_record

    p = snakemake.params
    blend = [tuple(pair) for pair in p.blend]
    sizes = dict(p.sizes)
    if snakemake.input.maps:  # valid, test: one pass over each dataset's map
        rows = {name: read_record(path)["rows"] for (name, _), path in zip(blend, snakemake.input.maps)}
        sizes = one_pass_sizes(blend, rows)
    print(build_blend_index(blend, sizes, snakemake.output.blend))


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
