"""Snakemake support that is plain Python: job resource estimates, and where the results are."""
