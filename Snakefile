# ERNIE 1.0 Chinese pretraining, from raw corpus to trained checkpoints (PaddleNLP's
# "ERNIE 1.0 from scratch" flow). Stages, in the order data flows:
#   sample     obtain the bundled real sample corpus (only when the config points at it)
#   segment    each dataset's raw shards -> sentence split + LAC word segmentation -> jsonl
#   clean      per shard: MinHash signatures, exact hashes, quality verdicts, benchmark n-gram overlaps; per group
#              (a dataset, or all): candidate pairs per LSH band -> duplicate clusters -> boilerplate lines ->
#              the decisions the merges apply (documents removed, counted by reason)
#   vocab      char_dict.pickle (all datasets) + eng.vocab (sentencepiece BPE) -> vocab.txt (scheme 1),
#              or BasicTokenizer text -> sentencepiece -> vocab.txt (scheme 2); its coverage report
#              (both schemes with vocab.compare_schemes)
#   token_ids  jsonl -> <prefix>_ids.npy + <prefix>_idx.npz with whole-word ## markers
#   index      train/valid/test sample index maps (tool_helpers build_mapping)
#   pretrain   ErnieForPretraining as a chain of checkpoints: model_0 -> model_<save point> ... -> model_<max_steps>
#              -> summary.json + training curve (model_last/, VisualDL logs beside them)
#   evaluate   each checkpoint fine-tuned on CLUE-style tasks over a grid -> the best dev configuration per
#              (task, checkpoint) -> report.{tsv,md} + a plot per task, model_0 as the baseline
#   export     (on request) any checkpoint as a Hugging Face transformers folder: results/hf/model_<step>
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/corpus.smk"
include: "rules/segment.smk"
include: "rules/clean.smk"
include: "rules/vocab.smk"
include: "rules/tokenize.smk"
include: "rules/index.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/export.smk"


rule all:
    default_target: True
    input:
        rules.pretrain.output,
        expand(rules.vocab_coverage.output, vocab_dir=REPORTED_VOCAB_DIRS),
        rules.eval_report.output if EVAL.tasks else [],
