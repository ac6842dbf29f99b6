# Stage 2: vocabulary (scheme 1): character counts per shard (a seeded sample; a held-out slice for the
# coverage report) summed over every dataset + English BPE -> vocab.txt.


rule char_counts:
    input:
        jsonl=rules.segment_shard.output.jsonl,
    output:
        counts=f"{RESULTS}/vocab/char_counts/{{dataset}}/{{shard}}.json",
        heldout=f"{RESULTS}/vocab/heldout/{{dataset}}/{{shard}}.jsonl",
    log:
        f"{RESULTS}/logs/vocab/char_counts/{{dataset}}/{{shard}}.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=1000,
    params:
        json_key=config["jsonl"]["json_key"],
        min_doc_length=config["jsonl"]["min_doc_length"],
        count_fraction=config["vocab"]["char_count_fraction"],
        heldout_fraction=config["vocab"]["heldout_fraction"],
        seed=config["vocab"]["seed"],
    script:
        "../scripts/vocab/char_counts.py"


rule char_dict:
    input:
        counts=every_shard(f"{RESULTS}/vocab/char_counts/{{dataset}}/{{shard}}.json"),
    output:
        pickle=f"{RESULTS}/vocab/char_dict.pickle",
    log:
        f"{RESULTS}/logs/vocab/char_dict.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/vocab/char_dict.py"


rule english_bpe:
    input:
        text=english_text(),
    output:
        model=f"{RESULTS}/vocab/eng.model",
        vocab=f"{RESULTS}/vocab/eng.vocab",
    log:
        f"{RESULTS}/logs/vocab/english_bpe.log",
    benchmark:
        f"{RESULTS}/benchmarks/vocab/english_bpe.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
    params:
        vocab_size=config["vocab"]["eng_vocab_size"],
        max_sentences=config["vocab"]["eng_max_sentences"],
    script:
        "../scripts/vocab/english_bpe.py"


rule merge_vocab:
    input:
        char_dict=rules.char_dict.output.pickle,
        eng_vocab=rules.english_bpe.output.vocab,
    output:
        vocab=f"{RESULTS}/vocab/tokenizer/vocab.txt",
    log:
        f"{RESULTS}/logs/vocab/merge_vocab.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        min_char_count=config["vocab"]["min_char_count"],
        include_kana_hangul=config["vocab"]["include_kana_hangul"],
        fullwidth_twins=config["vocab"]["fullwidth_twins"],
    script:
        "../scripts/vocab/merge_vocab.py"


rule scheme2_text:
    input:
        jsonl=every_shard(f"{RESULTS}/segmented/{{dataset}}/{{shard}}.jsonl"),
    output:
        text=f"{RESULTS}/vocab/scheme2/pretokenized.txt",
    log:
        f"{RESULTS}/logs/vocab/scheme2_text.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=1000,
    params:
        shards=all_shards(),
        json_key=config["jsonl"]["json_key"],
        min_doc_length=config["jsonl"]["min_doc_length"],
        heldout_fraction=config["vocab"]["heldout_fraction"],
        seed=config["vocab"]["seed"],
        sample_mb=config["vocab"]["scheme2_sample_mb"],
    script:
        "../scripts/vocab/scheme2_text.py"


rule scheme2_vocab:
    input:
        text=rules.scheme2_text.output.text,
    output:
        model=f"{RESULTS}/vocab/scheme2/spm.model",
        pieces=f"{RESULTS}/vocab/scheme2/spm.vocab",
        vocab=f"{RESULTS}/vocab/scheme2/tokenizer/vocab.txt",
    log:
        f"{RESULTS}/logs/vocab/scheme2_vocab.log",
    benchmark:
        f"{RESULTS}/benchmarks/vocab/scheme2_vocab.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=scheme2_vocab_mem_mb,
    params:
        vocab_size=config["vocab"]["scheme2_vocab_size"],
        model_type=config["vocab"]["scheme2_model_type"],
        include_kana_hangul=config["vocab"]["include_kana_hangul"],
        fullwidth_twins=config["vocab"]["fullwidth_twins"],
    script:
        "../scripts/vocab/scheme2_vocab.py"


rule vocab_coverage:
    input:
        heldout=every_shard(f"{RESULTS}/vocab/heldout/{{dataset}}/{{shard}}.jsonl"),
        vocab=f"{RESULTS}/{{vocab_dir}}/tokenizer/vocab.txt",
    output:
        json=f"{RESULTS}/{{vocab_dir}}/coverage/coverage.json",
        tsv=f"{RESULTS}/{{vocab_dir}}/coverage/coverage.tsv",
        plot=report(
            f"{RESULTS}/{{vocab_dir}}/coverage/coverage.png",
            category="Vocabulary",
            subcategory="{vocab_dir}",
            caption="../docs/report/vocab_coverage.rst",
        ),
    log:
        f"{RESULTS}/logs/{{vocab_dir}}/coverage.log",
    wildcard_constraints:
        vocab_dir="|".join(re.escape(d) for d in VOCAB_DIRS),
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        json_key=config["jsonl"]["json_key"],
        tokenizer_dir=lambda wildcards, input: os.path.dirname(input.vocab),
    script:
        "../scripts/vocab/coverage.py"
