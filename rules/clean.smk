# Stage 2b (between the segmented shards and the token files): duplicates, low-quality documents and benchmark
# text removed, every removal counted. Per shard: signatures and contamination; per group (a dataset, or all of
# them with clean.scope: all): candidate pairs per key (the exact hash, each LSH band), the duplicate clusters,
# the boilerplate lines, the decisions the merges apply. Nothing here runs when every clean option is off.


wildcard_constraints:
    group="|".join(re.escape(group) for group in CLEAN_GROUPS) or "^$",
    key="|".join(CLEAN_KEYS) or "^$",


rule clean_benchmark_ngrams:
    input:
        BENCHMARK_FILES,
    output:
        table=f"{RESULTS}/clean/benchmark_ngrams.npz",
        stats=f"{RESULTS}/clean/benchmark_ngrams.json",
    log:
        f"{RESULTS}/logs/clean/benchmark_ngrams.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=clean_benchmark_mem_mb,
    params:
        tasks=BENCHMARK_TASKS,
        files=config["clean"]["contamination_files"],
        ngram_chars=config["clean"]["contamination_ngram_chars"],
        max_passages=config["clean"]["contamination_max_passages"],
    script:
        "../scripts/clean/benchmark_ngrams.py"


rule clean_signatures:
    input:
        jsonl=rules.segment_shard.output.jsonl,
    output:
        **SIGNATURE_FILES,
    log:
        f"{RESULTS}/logs/clean/signatures/{{dataset}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/clean/signatures/{{dataset}}/{{shard}}.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=clean_signatures_mem_mb,
    params:
        settings=CLEAN.signature_params(),
        json_key=config["jsonl"]["json_key"],
        min_doc_length=config["jsonl"]["min_doc_length"],
    script:
        "../scripts/clean/signatures.py"


rule clean_contamination:
    input:
        jsonl=rules.segment_shard.output.jsonl,
        table=rules.clean_benchmark_ngrams.output.table,
    output:
        found=CONTAMINATION_FILE,
    log:
        f"{RESULTS}/logs/clean/contamination/{{dataset}}/{{shard}}.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=clean_contamination_mem_mb,
    params:
        min_share=config["clean"]["contamination_min_share"],
        json_key=config["jsonl"]["json_key"],
        min_doc_length=config["jsonl"]["min_doc_length"],
    script:
        "../scripts/clean/contamination.py"


rule clean_candidates:
    input:
        docs=group_files(SIGNATURE_FILES["docs"]),
        bands=group_files(SIGNATURE_FILES["bands"], CLEAN.near),
        contamination=group_files(CONTAMINATION_FILE, DECONTAMINATE),
    output:
        pairs=f"{RESULTS}/clean/{{group}}/candidates/{{key}}.npy",
    log:
        f"{RESULTS}/logs/clean/{{group}}/candidates/{{key}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/clean/{{group}}/candidates/{{key}}.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=clean_partition_mem_mb,
    params:
        shards=group_shard_list,
    script:
        "../scripts/clean/candidates.py"


rule clean_duplicates:
    input:
        pairs=expand(rules.clean_candidates.output.pairs, key=CLEAN_KEYS, allow_missing=True),
        docs=group_files(SIGNATURE_FILES["docs"]),
        minhash=group_files(SIGNATURE_FILES["minhash"], CLEAN.near),
    output:
        duplicates=f"{RESULTS}/clean/{{group}}/duplicates.npz",
        stats=f"{RESULTS}/clean/{{group}}/duplicates.json",
    log:
        f"{RESULTS}/logs/clean/{{group}}/duplicates.log",
    benchmark:
        f"{RESULTS}/benchmarks/clean/{{group}}/duplicates.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=clean_duplicates_mem_mb,
    params:
        shards=group_shard_list,
        near_threshold=config["clean"]["near_threshold"],
    script:
        "../scripts/clean/duplicates.py"


rule clean_boilerplate:
    input:
        docs=group_files(SIGNATURE_FILES["docs"]),
        contamination=group_files(CONTAMINATION_FILE, DECONTAMINATE),
        duplicates=rules.clean_duplicates.output.duplicates if CLEAN.dedup else [],
    output:
        lines=f"{RESULTS}/clean/{{group}}/boilerplate_lines.npy",
    log:
        f"{RESULTS}/logs/clean/{{group}}/boilerplate.log",
    benchmark:
        f"{RESULTS}/benchmarks/clean/{{group}}/boilerplate.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=clean_partition_mem_mb,
    params:
        shards=group_shard_list,
        min_documents=config["clean"]["boilerplate_min_documents"],
    script:
        "../scripts/clean/boilerplate.py"


rule clean_decisions:
    input:
        docs=group_files(SIGNATURE_FILES["docs"]),
        contamination=group_files(CONTAMINATION_FILE, DECONTAMINATE),
        benchmark=rules.clean_benchmark_ngrams.output.stats if DECONTAMINATE else [],
        duplicates=rules.clean_duplicates.output.duplicates if CLEAN.dedup else [],
        duplicate_stats=rules.clean_duplicates.output.stats if CLEAN.dedup else [],
        boilerplate=rules.clean_boilerplate.output.lines if CLEAN.boilerplate else [],
    output:
        decisions=f"{RESULTS}/clean/{{group}}/decisions.npz",
        stats=f"{RESULTS}/clean/{{group}}/stats.json",
        plot=report(
            f"{RESULTS}/clean/{{group}}/removals.png",
            category="Clean data",
            subcategory="{group}",
            caption="../docs/report/clean_removals.rst",
        ),
    log:
        f"{RESULTS}/logs/clean/{{group}}/decisions.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=clean_decisions_mem_mb,
    params:
        shards=group_shard_list,
        max_boilerplate_share=config["clean"]["max_boilerplate_share"],
    script:
        "../scripts/clean/decisions.py"
