rule sample:
    input:
        config=CONFIG_FILE,
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
    shell:
        "python -m workflow.sample --config {input.config} --model {input.model} --data {input.data}"
        " --dataset {wildcards.dataset} --shard {wildcards.shard} --out {output} > {log} 2>&1"


rule verify:
    input:
        config=CONFIG_FILE,
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
    shell:
        "python -m workflow.verify --config {input.config} --samples {input.samples} --data {input.data}"
        " --out {output} > {log} 2>&1"
