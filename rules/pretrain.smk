# Stage 5: ERNIE pretraining on one dataset (train.dataset; blending several is not supported yet).
# On SLURM, profiles/slurm gives this rule a GPU.


rule pretrain:
    input:
        ids=f"{TRAIN_PREFIX}_ids.npy",
        idx=f"{TRAIN_PREFIX}_idx.npz",
        tokenizer=TOKENIZER_FILES,
        index_maps=expand(rules.index_map.output.index_map, dataset=TRAIN_DATASET, split=SPLIT_NAMES),
    output:
        model_last=directory(f"{RESULTS}/pretrain/model_last"),
        visualdl=directory(f"{RESULTS}/pretrain/visualdl"),
        summary=f"{RESULTS}/pretrain/summary.json",
    params:
        tokenizer=tokenizer_source,
        train={**config["train"], "dataset": TRAIN_DATASET},  # null resolved: naming it reruns nothing
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
