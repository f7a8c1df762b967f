rule analyze:
    input:
        data=panel_data,
        verified=verified_inputs,
    output:
        counts=f"{R}/tables/counts_{{panel}}.csv",
        passk=f"{R}/tables/passk_{{panel}}.csv",
    log:
        f"{LOGS}/analyze_{{panel}}.log",
    benchmark:
        f"{LOGS}/benchmarks/analyze/{{panel}}.tsv"
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
        dataset=panel_dataset,
        out=parent_of("passk"),
    shell:
        "python -m workflow.analyze --config {params.config} --dataset {params.dataset} --panel {wildcards.panel}"
        " --data {input.data} --verified {params.verified} --out {params.out} > {log} 2>&1"


rule boundary:
    input:
        counts=f"{R}/tables/counts_{{panel}}.csv",
    output:
        crossing=f"{R}/tables/crossing_{{panel}}.csv",
        coverage=f"{R}/tables/coverage_{{panel}}.csv",
        histogram=f"{R}/tables/histogram_{{panel}}.csv",
        difficulty=f"{R}/tables/difficulty_{{panel}}.csv",
        dynamics=f"{R}/tables/dynamics_{{panel}}.csv",
        verdict_md=f"{R}/tables/verdict_{{panel}}.md",
        verdict_json=f"{R}/tables/verdict_{{panel}}.json",
        seeds=f"{R}/tables/seeds_{{panel}}.csv",
    log:
        f"{LOGS}/boundary_{{panel}}.log",
    benchmark:
        f"{LOGS}/benchmarks/boundary/{{panel}}.tsv"
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
        data=panel_data,
        base=base_model_input,
        models=rl_model_inputs,
        verified=verified_inputs,
    output:
        f"{R}/tables/perplexity_{{panel}}.csv",
    log:
        f"{LOGS}/perplexity_{{panel}}.log",
    benchmark:
        f"{LOGS}/benchmarks/perplexity/{{panel}}.tsv"
    conda:
        ENV
    threads: CFG.threads
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=perplexity_gpus,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("analysis", "sampling"),
        base=base_arg,
        base_samples=base_shards,
        rl=perplexity_args,
        dataset=panel_dataset,
    shell:
        "python -m workflow.perplexity --config {params.config} --dataset {params.dataset} --data {input.data}"
        " --base {params.base} --base-samples {params.base_samples} --rl {params.rl} --out {output} > {log} 2>&1"


rule novelty:
    input:
        train=f"{R}/data/train.jsonl",
        verified=verified_inputs,
    output:
        f"{R}/tables/novelty_{{panel}}.csv",
    log:
        f"{LOGS}/novelty_{{panel}}.log",
    benchmark:
        f"{LOGS}/benchmarks/novelty/{{panel}}.tsv"
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
        "python -m workflow.novelty --config {params.config} --dataset {wildcards.panel} --train {input.train}"
        " --verified {params.verified} --out {output} > {log} 2>&1"
