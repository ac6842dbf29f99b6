# Stage 5: ERNIE pretraining on train.dataset (one dataset or a weighted blend), as a chain of checkpoint
# targets: model_0 (the initial weights) -> model_<save point> -> ... -> model_<max_steps>, then the summary.
# Each link is a job that trains from the checkpoint before it; only trajectory settings are its params.
# On SLURM, profiles/slurm gives train_checkpoint (and the summary's test evaluation) a GPU.


wildcard_constraints:
    step="|".join(str(s) for s in SAVE_POINTS),


rule init_model:
    input:
        tokenizer=TOKENIZER_FILES,
        init=(
            [os.path.join(config["train"]["continue_training"], "model_state.pdparams")]
            if config["train"]["continue_training"]
            else []
        ),
    output:
        checkpoint=directory(f"{PRETRAIN}/model_0"),
    log:
        f"{RESULTS}/logs/pretrain/model_0.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=8000,
    params:
        tokenizer=tokenizer_source,
        trajectory=TRAJECTORY,
    script:
        "../scripts/train/init_model.py"


rule train_checkpoint:
    input:
        unpack(train_inputs),
        previous=previous_checkpoint,
    output:
        checkpoint=directory(f"{PRETRAIN}/model_{{step}}"),
    log:
        f"{RESULTS}/logs/pretrain/model_{{step}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain/model_{{step}}.tsv"
    group:
        train_job_group
    conda:
        TRAIN_ENV
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
    params:
        tokenizer=tokenizer_source,
        trajectory=TRAJECTORY,  # train.dataset: null resolved, so naming the dataset it stands for reruns nothing
        sample_map=SAMPLE_MAP,  # what the train maps must have been built for
    script:
        "../scripts/train/link.py"


rule pretrain:
    input:
        unpack(train_inputs),
        checkpoints=expand(rules.train_checkpoint.output.checkpoint, step=SAVE_POINTS),
    output:
        summary=f"{PRETRAIN}/summary.json",
        curve=report(
            f"{PRETRAIN}/training_curve.png",
            category="Pretraining",
            caption="../docs/report/training_curve.rst",
        ),
    log:
        f"{RESULTS}/logs/pretrain/summary.log",
    conda:
        TRAIN_ENV
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
    params:
        tokenizer=tokenizer_source,
        trajectory=TRAJECTORY,
        test_iters=config["train"]["test_iters"],
    script:
        "../scripts/train/summary.py"
