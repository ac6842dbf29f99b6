# Stage 1, per dataset: raw shards -> sentence split + word segmentation -> jsonl (one file per
# shard), then one corpus jsonl per dataset (length filter + seeded shuffle).


wildcard_constraints:
    dataset="|".join(re.escape(name) for name in DATASETS),


rule segment_shard:
    input:
        raw=raw_shard,
    output:
        jsonl=f"{RESULTS}/segmented/{{dataset}}/{{shard}}.jsonl",
        stats=f"{RESULTS}/segmented/{{dataset}}/{{shard}}.stats.json",
    log:
        f"{RESULTS}/logs/segment/{{dataset}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/segment/{{dataset}}/{{shard}}.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=segment_minutes,
    params:
        format=dataset_setting("format"),
        input_key=dataset_setting("input_key"),
        on_error=dataset_setting("on_error"),
        json_key=config["jsonl"]["json_key"],
        segmenter=config["segment"]["segmenter"],
        custom_dict=config["segment"]["custom_dict"],
        engine=config["segment"]["engine"],
        batch_size=config["segment"]["batch_size"],
        max_document_chars=config["segment"]["max_document_chars"],
        max_sentence_chars=config["segment"]["max_sentence_chars"],
        max_invalid_utf8_share=config["segment"]["max_invalid_utf8_share"],
    script:
        "../scripts/segment/shard.py"


rule corpus_jsonl:
    input:
        shards=segmented_shards,
        stats=segmented_stats,
        clean=clean_decisions,
    output:
        jsonl=f"{RESULTS}/corpus/{{dataset}}.jsonl",
        stats=f"{RESULTS}/corpus/{{dataset}}.stats.json",
    log:
        f"{RESULTS}/logs/corpus_jsonl/{{dataset}}.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        json_key=config["jsonl"]["json_key"],
        min_doc_length=config["jsonl"]["min_doc_length"],
        shuffle=config["jsonl"]["shuffle"],
        seed=config["jsonl"]["seed"],
    script:
        "../scripts/segment/corpus_jsonl.py"
