rule sample:
    input:
        model=model_dir,
        data=f"{R}/data/{{dataset}}.jsonl",
    output:
        f"{R}/samples/{{model}}/{{dataset}}/shard{{shard}}.jsonl",
    log:
        f"{LOGS}/sample/{{model}}/{{dataset}}/shard{{shard}}.log",
    conda:
        ENV
    threads: CFG.threads
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("seed", "sampling"),
    shell:
        "python -m workflow.sample --config {params.config} --model {input.model} --data {input.data}"
        " --dataset {wildcards.dataset} --shard {wildcards.shard} --out {output} > {log} 2>&1"


rule verify:
    input:
        samples=f"{R}/samples/{{model}}/{{dataset}}/shard{{shard}}.jsonl",
        data=f"{R}/data/{{dataset}}.jsonl",
    output:
        f"{R}/verified/{{model}}/{{dataset}}/shard{{shard}}.jsonl",
    log:
        f"{LOGS}/verify/{{model}}/{{dataset}}/shard{{shard}}.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("data"),
    shell:
        "python -m workflow.verify --config {params.config} --samples {input.samples} --data {input.data}"
        " --out {output} > {log} 2>&1"
