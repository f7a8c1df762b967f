rule sample:
    input:
        model=model_dir,
        data=f"{R}/data/{{dataset}}.jsonl",
    output:
        f"{R}/samples/{{model}}/{{dataset}}/shard{{shard}}/from{{start}}.jsonl",
    log:
        f"{LOGS}/sample/{{model}}/{{dataset}}/shard{{shard}}-from{{start}}.log",
    benchmark:
        f"{LOGS}/benchmarks/sample/{{model}}/{{dataset}}/shard{{shard}}-from{{start}}.tsv"
    conda:
        ENV
    threads: sample_threads()
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=sample_gpus,
    params:
        config=CONFIG_FILE,
        settings=sample_settings,
        path=model_path,
    shell:
        "python -m workflow.sample --config {params.config} --model {wildcards.model} --path {params.path}"
        " --data {input.data} --dataset {wildcards.dataset} --shard {wildcards.shard} --start {wildcards.start}"
        " --out {output} > {log} 2>&1"


rule verify:
    input:
        samples=block_files,
        data=f"{R}/data/{{dataset}}.jsonl",
    output:
        f"{R}/verified/{{model}}/{{dataset}}/shard{{shard}}.jsonl",
    log:
        f"{LOGS}/verify/{{model}}/{{dataset}}/shard{{shard}}.log",
    benchmark:
        f"{LOGS}/benchmarks/verify/{{model}}/{{dataset}}/shard{{shard}}.tsv"
    conda:
        ENV
    threads: VERIFY_THREADS
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("data", "verification"),
    shell:
        "python -m workflow.verify --config {params.config} --samples {input.samples} --data {input.data}"
        " --out {output} > {log} 2>&1"
