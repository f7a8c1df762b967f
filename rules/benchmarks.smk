rule prepare_benchmark:
    output:
        f"{R}/data/{{dataset}}.jsonl",
    log:
        f"{LOGS}/data/{{dataset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/prepare_benchmark/{{dataset}}.tsv"
    wildcard_constraints:
        dataset="|".join(BENCHMARKS),
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        config=CONFIG_FILE,
        settings=benchmark_settings,
        args=benchmark_args,
    shell:
        "python -m workflow.benchmarks {params.args} --out {output} > {log} 2>&1"
