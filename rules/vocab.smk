# Stage 2: vocabulary (scheme 1): character counts of all datasets + English BPE -> vocab.txt.


rule char_dict:
    input:
        # every dataset's corpus, in a fixed (sorted) order: reordering datasets changes nothing
        jsonl=expand(rules.corpus_jsonl.output.jsonl, dataset=sorted(DATASETS)),
    output:
        pickle=f"{RESULTS}/vocab/char_dict.pickle",
    params:
        json_key=config["jsonl"]["json_key"],
        max_chars=config["vocab"]["char_count_max_chars"],
    log:
        f"{RESULTS}/logs/vocab/char_dict.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/char_dict.py"


rule english_bpe:
    input:
        text=english_text(),
    output:
        model=f"{RESULTS}/vocab/eng.model",
        vocab=f"{RESULTS}/vocab/eng.vocab",
    params:
        vocab_size=config["vocab"]["eng_vocab_size"],
        max_sentences=config["vocab"]["eng_max_sentences"],
    log:
        f"{RESULTS}/logs/vocab/english_bpe.log",
    benchmark:
        f"{RESULTS}/benchmarks/vocab/english_bpe.tsv"
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../scripts/english_bpe.py"


rule merge_vocab:
    input:
        char_dict=rules.char_dict.output.pickle,
        eng_vocab=rules.english_bpe.output.vocab,
    output:
        vocab=f"{RESULTS}/vocab/tokenizer/vocab.txt",
    params:
        min_char_count=config["vocab"]["min_char_count"],
    log:
        f"{RESULTS}/logs/vocab/merge_vocab.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/merge_vocab.py"
