# Export: any checkpoint of the chain (model_0 included) as a Hugging Face transformers folder
# (`snakemake results/hf/model_<step>`), numerically equal to the Paddle model; needs neither Paddle nor torch.


rule export_hf:
    input:
        checkpoint=f"{PRETRAIN}/model_{{export_step}}",
    output:
        folder=directory(f"{RESULTS}/hf/model_{{export_step}}"),
    log:
        f"{RESULTS}/logs/hf/model_{{export_step}}.log",
    wildcard_constraints:
        export_step="|".join(str(step) for step in [0, *SAVE_POINTS]),
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=lambda wildcards, input: 2000 + 3 * input.size_mb,
    script:
        "../scripts/export/hf.py"
