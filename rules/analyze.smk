rule analyze:
    input:
        data=f"{R}/data/{{dataset}}.jsonl",
        verified=verified_inputs,
    output:
        counts=f"{R}/tables/counts_{{dataset}}.csv",
        passk=f"{R}/tables/passk_{{dataset}}.csv",
        summary_md=f"{R}/tables/summary_{{dataset}}.md",
        summary_json=f"{R}/tables/summary_{{dataset}}.json",
    log:
        f"{LOGS}/analyze_{{dataset}}.log",
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("seed", "analysis"),
        verified=verified_args,
        out=parent_of("passk"),
    shell:
        "python -m workflow.analyze --config {params.config} --dataset {wildcards.dataset} --data {input.data}"
        " --verified {params.verified} --out {params.out} > {log} 2>&1"


rule boundary:
    input:
        counts=f"{R}/tables/counts_{{dataset}}.csv",
    output:
        crossing=f"{R}/tables/crossing_{{dataset}}.csv",
        coverage=f"{R}/tables/coverage_{{dataset}}.csv",
        histogram=f"{R}/tables/histogram_{{dataset}}.csv",
        difficulty=f"{R}/tables/difficulty_{{dataset}}.csv",
        dynamics=f"{R}/tables/dynamics_{{dataset}}.csv",
        verdict_md=f"{R}/tables/verdict_{{dataset}}.md",
        verdict_json=f"{R}/tables/verdict_{{dataset}}.json",
    log:
        f"{LOGS}/boundary_{{dataset}}.log",
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("seed", "analysis"),
        out=parent_of("crossing"),
    shell:
        "python -m workflow.boundary --config {params.config} --counts {input.counts} --out {params.out} > {log} 2>&1"


rule perplexity:
    input:
        data=f"{R}/data/{{dataset}}.jsonl",
        base=f"{R}/base/model",
        models=[model_dir_of(m) for m in RL_MODELS],
        verified=verified_inputs,
    output:
        f"{R}/tables/perplexity_{{dataset}}.csv",
    log:
        f"{LOGS}/perplexity_{{dataset}}.log",
    conda:
        ENV
    threads: CFG.threads
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("analysis"),
        base_samples=base_shards,
        rl=perplexity_args,
    shell:
        "python -m workflow.perplexity --config {params.config} --dataset {wildcards.dataset} --data {input.data}"
        " --base {input.base} --base-samples {params.base_samples} --rl {params.rl} --out {output} > {log} 2>&1"


rule novelty:
    input:
        train=f"{R}/data/train.jsonl",
        verified=verified_inputs,
    output:
        f"{R}/tables/novelty_{{dataset}}.csv",
    log:
        f"{LOGS}/novelty_{{dataset}}.log",
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("data", "analysis"),
        verified=verified_args,
    shell:
        "python -m workflow.novelty --config {params.config} --dataset {wildcards.dataset} --train {input.train}"
        " --verified {params.verified} --out {output} > {log} 2>&1"
