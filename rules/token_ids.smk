# Stage 3, per dataset: each segmented shard -> token ids with whole-word ## markers (a new shard only
# tokenises itself), then one <dataset>_ids.npy + _idx.npz in a seeded document order.


rule token_ids_shard:
    input:
        jsonl=f"{RESULTS}/segmented/{{dataset}}/{{shard}}.jsonl",
        tokenizer=TOKENIZER_FILES,
    output:
        ids=f"{RESULTS}/token_ids/{{dataset}}/{{shard}}_ids.npy",
        idx=f"{RESULTS}/token_ids/{{dataset}}/{{shard}}_idx.npz",
        stats=f"{RESULTS}/token_ids/{{dataset}}/{{shard}}.stats.json",
    params:
        tokenizer=TOKENIZER,
        json_key=config["jsonl"]["json_key"],
        min_doc_length=config["jsonl"]["min_doc_length"],
        settings={k: v for k, v in config["tokenize"].items() if k not in ("tokenizer", "megatron")},
    log:
        f"{RESULTS}/logs/token_ids/{{dataset}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/token_ids/{{dataset}}/{{shard}}.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/token_ids_shard.py"


rule token_ids:
    input:
        ids=shard_token_files("ids"),
        idx=shard_token_files("idx"),
        stats=shard_token_files("stats"),
        segment_stats=segmented_stats,
    output:
        ids=f"{RESULTS}/token_ids/{{dataset}}_ids.npy",
        idx=f"{RESULTS}/token_ids/{{dataset}}_idx.npz",
        stats=f"{RESULTS}/token_ids/{{dataset}}.stats.json",
        megatron=multiext(f"{RESULTS}/token_ids/{{dataset}}", ".bin", ".idx") if config["tokenize"]["megatron"] else [],
    params:
        shuffle=config["jsonl"]["shuffle"],
        seed=config["jsonl"]["seed"],
        megatron=config["tokenize"]["megatron"],
    log:
        f"{RESULTS}/logs/token_ids/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/token_ids/{{dataset}}.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/token_ids.py"
