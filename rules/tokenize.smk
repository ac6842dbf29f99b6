# Stage 3, per dataset: each segmented shard -> token ids with whole-word ## markers (a new shard only
# tokenises itself), then one <dataset>_ids.npy + _idx.npz in a seeded document order. The tokenizer's
# tables are derived once (paddlenlp is slow to import), so a shard's job starts in about a second.


rule tokenizer_tables:
    input:
        tokenizer=TOKENIZER_FILES,
    output:
        tables=f"{RESULTS}/token_ids/tokenizer_tables.npz",
    log:
        f"{RESULTS}/logs/token_ids/tokenizer_tables.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        tokenizer=tokenizer_source,
    script:
        "../scripts/tokenize/tables.py"


rule token_ids_shard:
    input:
        jsonl=f"{RESULTS}/segmented/{{dataset}}/{{shard}}.jsonl",
        tables=rules.tokenizer_tables.output.tables,
        tokenizer=TOKENIZER_FILES,  # paddlenlp decides the few documents the tables cannot
    output:
        ids=f"{RESULTS}/token_ids/{{dataset}}/{{shard}}_ids.npy",
        idx=f"{RESULTS}/token_ids/{{dataset}}/{{shard}}_idx.npz",
        stats=f"{RESULTS}/token_ids/{{dataset}}/{{shard}}.stats.json",
    log:
        f"{RESULTS}/logs/token_ids/{{dataset}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/token_ids/{{dataset}}/{{shard}}.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        tokenizer=tokenizer_source,
        json_key=config["jsonl"]["json_key"],
        min_doc_length=config["jsonl"]["min_doc_length"],
        settings={k: v for k, v in config["tokenize"].items() if k not in ("tokenizer", "megatron", "merge_bucket_mb")},
    script:
        "../scripts/tokenize/shard.py"


rule merge_token_ids:
    input:
        ids=shard_token_files("ids"),
        idx=shard_token_files("idx"),
        stats=shard_token_files("stats"),
        segment_stats=segmented_stats,
        clean=clean_decisions,
    output:
        ids=f"{RESULTS}/token_ids/{{dataset}}_ids.npy",
        idx=f"{RESULTS}/token_ids/{{dataset}}_idx.npz",
        stats=f"{RESULTS}/token_ids/{{dataset}}.stats.json",
        megatron=multiext(f"{RESULTS}/token_ids/{{dataset}}", ".bin", ".idx") if config["tokenize"]["megatron"] else [],
    log:
        f"{RESULTS}/logs/token_ids/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/token_ids/{{dataset}}.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=merge_mem_mb,
        runtime=merge_minutes,
    params:
        shuffle=config["jsonl"]["shuffle"],
        seed=config["jsonl"]["seed"],
        megatron=config["tokenize"]["megatron"],
    script:
        "../scripts/tokenize/merge.py"
