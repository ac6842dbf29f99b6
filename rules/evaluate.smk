# Stage 6: downstream evaluation (the seed's 评估): every (checkpoint, task, grid point) of config eval is a
# fine-tuning job writing its scores; per (task, checkpoint) the best dev configuration is selected; the
# report puts every checkpoint beside the model_0 baseline. On SLURM, profiles/slurm gives finetune a GPU.


wildcard_constraints:
    task="|".join(re.escape(name) for name in EVAL.tasks) or "(?!)",
    point="|".join(re.escape(point.name) for point in EVAL.points()),
    eval_step="|".join(str(step) for step in EVAL_STEPS) or "(?!)",


rule finetune:
    input:
        checkpoint=f"{PRETRAIN}/model_{{eval_step}}",
        files=eval_task_files,
    output:
        result=f"{RESULTS}/eval/{{task}}/model_{{eval_step}}/{{point}}.json",
    log:
        f"{RESULTS}/logs/eval/{{task}}/model_{{eval_step}}/{{point}}.log",
    conda:
        TRAIN_ENV
    threads: config["eval"]["threads"]
    resources:
        mem_mb=4000,
    params:
        task=lambda wildcards: as_section(EVAL.tasks[wildcards.task]),
        point=lambda wildcards: EVAL.point(wildcards.point).__dict__,
        warmup_proportion=config["eval"]["warmup_proportion"],
        weight_decay=config["eval"]["weight_decay"],
    script:
        "../scripts/evaluate/finetune.py"


rule select_best:
    input:
        results=expand(
            f"{RESULTS}/eval/{{{{task}}}}/model_{{{{eval_step}}}}/{{point}}.json",
            point=[point.name for point in EVAL.points()],
        ),
    output:
        best=f"{RESULTS}/eval/{{task}}/model_{{eval_step}}/best.json",
    log:
        f"{RESULTS}/logs/eval/{{task}}/model_{{eval_step}}/best.log",
    conda:
        CPU_ENV
    threads: 1
    params:
        metric=config["eval"]["metric"],
    script:
        "../scripts/evaluate/select_best.py"


rule eval_report:
    input:
        selections=expand(rules.select_best.output.best, task=list(EVAL.tasks), eval_step=EVAL_STEPS),
    output:
        tsv=f"{RESULTS}/eval/report.tsv",
        md=report(
            f"{RESULTS}/eval/report.md",
            category="Evaluation",
            caption="../docs/report/eval_report.rst",
        ),
        plots=[
            report(
                f"{RESULTS}/eval/{task}.png",
                category="Evaluation",
                caption="../docs/report/eval_plot.rst",
            )
            for task in EVAL.tasks
        ],
    log:
        f"{RESULTS}/logs/eval/report.log",
    conda:
        CPU_ENV
    threads: 1
    script:
        "../scripts/evaluate/report.py"
