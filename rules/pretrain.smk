# Stage 5: ERNIE pretraining on train.dataset: one dataset or a weighted blend.
# On SLURM, profiles/slurm gives this rule a GPU.


rule pretrain:
    input:
        ids=expand(rules.merge_token_ids.output.ids, dataset=TRAIN_DATASETS),
        idx=expand(rules.merge_token_ids.output.idx, dataset=TRAIN_DATASETS),
        tokenizer=TOKENIZER_FILES,
        init=(
            [os.path.join(config["train"]["continue_training"], "model_state.pdparams")]
            if config["train"]["continue_training"]
            else []
        ),
        index_maps=expand(rules.index_map.output.index_map, dataset=TRAIN_DATASETS, split=SPLIT_NAMES),
        blends=expand(rules.blend_index.output.blend, split=SPLIT_NAMES) if len(TRAIN_BLEND) > 1 else [],
    # Only the summary is a declared output: Snakemake deletes a job's outputs before running it, and a rerun
    # must find model_last to resume from. Checkpoints, VisualDL logs and train_log.jsonl sit beside it.
    output:
        summary=f"{RESULTS}/pretrain/summary.json",
    log:
        f"{RESULTS}/logs/pretrain.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain.tsv"
    conda:
        TRAIN_ENV
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
    params:
        tokenizer=tokenizer_source,
        train=TRAIN,  # train.dataset: null resolved, so naming the dataset it stands for reruns nothing
        sample_map=SAMPLE_MAP,  # what the index maps must have been built for
    script:
        "../scripts/train/pretrain.py"
