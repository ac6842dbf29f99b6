"""Snakemake support that is plain Python: what the config plans (planning), job resource estimates, what every
job script does first (job), and where the results are (where)."""
