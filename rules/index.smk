# Stage 4, per dataset: train/valid/test sample index maps, built before training (tool_helpers build_mapping);
# when train.dataset blends several datasets, a blending index per split (tool_helpers build_blending_indices).


wildcard_constraints:
    split="|".join(SPLIT_NAMES),


rule index_map:
    input:
        ids=rules.merge_token_ids.output.ids,
        idx=rules.merge_token_ids.output.idx,
    output:
        index_map=f"{RESULTS}/index/{{dataset}}_{{split}}_indexmap.npy",
        record=f"{RESULTS}/index/{{dataset}}_{{split}}_indexmap.npy.json",
    log:
        f"{RESULTS}/logs/index/{{dataset}}_{{split}}.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=index_map_mem_mb,
    params:
        settings=SAMPLE_MAP,
        num_samples=dataset_split_samples,
    script:
        "../scripts/index/index_map.py"


rule blend_index:
    input:
        maps=one_pass_maps,
    output:
        blend=f"{RESULTS}/index/blend_{{split}}.npz",
        record=f"{RESULTS}/index/blend_{{split}}.npz.json",
    log:
        f"{RESULTS}/logs/index/blend_{{split}}.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        blend=TRAIN_BLEND,
        sizes=lambda wildcards: SAMPLES[wildcards.split],
    script:
        "../scripts/index/blend_index.py"
