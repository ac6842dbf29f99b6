# Stage 3, per dataset: corpus jsonl -> token ids with whole-word ## markers (<prefix>_ids.npy + _idx.npz).


rule token_ids:
    input:
        jsonl=rules.corpus_jsonl.output.jsonl,
        vocab=VOCAB_TXT,
    output:
        ids=f"{RESULTS}/token_ids/{{dataset}}_ids.npy",
        idx=f"{RESULTS}/token_ids/{{dataset}}_idx.npz",
    params:
        json_key=config["jsonl"]["json_key"],
        max_word_length=config["tokenize"]["max_word_length"],
    log:
        f"{RESULTS}/logs/token_ids/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/token_ids/{{dataset}}.tsv"
    conda:
        CPU_ENV
    threads: 2
    resources:
        mem_mb=4000,
    script:
        "../scripts/token_ids.py"
