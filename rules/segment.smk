# Stage 1: raw shards -> sentence split + word segmentation -> jsonl (one file per shard), then one
# corpus jsonl (length filter + seeded shuffle).


wildcard_constraints:
    corpus=CORPUS,


rule segment_shard:
    input:
        raw=raw_shard,
    output:
        jsonl=f"{RESULTS}/segmented/{{corpus}}/{{shard}}.jsonl",
        stats=f"{RESULTS}/segmented/{{corpus}}/{{shard}}.stats.json",
    params:
        format=config["corpus"]["format"],
        json_key=config["corpus"]["json_key"],
        input_key=config["corpus"]["input_key"],
        segmenter=config["segment"]["segmenter"],
        custom_dict=config["segment"]["custom_dict"],
        batch_size=config["segment"]["batch_size"],
    log:
        f"{RESULTS}/logs/segment/{{corpus}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/segment/{{corpus}}/{{shard}}.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=3000,
    script:
        "../scripts/segment_shard.py"


rule corpus_jsonl:
    input:
        shards=segmented_shards,
        stats=segmented_stats,
    output:
        jsonl=f"{RESULTS}/corpus/{{corpus}}.jsonl",
        stats=f"{RESULTS}/corpus/{{corpus}}.stats.json",
    params:
        json_key=config["corpus"]["json_key"],
        min_doc_length=config["jsonl"]["min_doc_length"],
        shuffle=config["jsonl"]["shuffle"],
        seed=config["jsonl"]["seed"],
    log:
        f"{RESULTS}/logs/corpus_jsonl/{{corpus}}.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/corpus_jsonl.py"
