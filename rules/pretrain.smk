# Stage 5: ERNIE pretraining. On SLURM, profiles/slurm gives this rule a GPU.


rule pretrain:
    input:
        ids=f"{TOKEN_IDS_PREFIX}_ids.npy",
        idx=f"{TOKEN_IDS_PREFIX}_idx.npz",
        vocab=rules.merge_vocab.output.vocab,
        index_maps=expand(f"{RESULTS}/index/{CORPUS}_{{split}}_indexmap.npy", split=SPLIT_NAMES),
    output:
        model_last=directory(f"{RESULTS}/pretrain/model_last"),
        visualdl=directory(f"{RESULTS}/pretrain/visualdl"),
        summary=f"{RESULTS}/pretrain/summary.json",
    params:
        train=config["train"],
        index=config["index"],
    log:
        f"{RESULTS}/logs/pretrain.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain.tsv"
    conda:
        TRAIN_ENV
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
    script:
        "../scripts/pretrain.py"
