rule analyze:
    input:
        config=CONFIG_FILE,
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
        verified=verified_args,
        out=parent_of("passk"),
    shell:
        "python -m workflow.analyze --config {input.config} --dataset {wildcards.dataset} --data {input.data}"
        " --verified {params.verified} --out {params.out} > {log} 2>&1"
