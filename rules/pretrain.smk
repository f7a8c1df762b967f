rule pretrain:
    input:
        train=f"{R}/data/train.jsonl",
    output:
        model=directory(f"{R}/base/model"),
    log:
        f"{LOGS}/pretrain.log",
    benchmark:
        f"{LOGS}/benchmarks/pretrain/pretrain.tsv"
    conda:
        ENV
    # nothing else is runnable while the base model trains: two threads are 1.7x faster than one here
    threads: max(2, CFG.threads)
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("seed", "data", "model"),
        wandb=f"{R}/wandb",
    shell:
        "python -m workflow.pretrain --config {params.config} --data {input.train} --out {output.model}"
        " --wandb-dir {params.wandb} --threads {threads} > {log} 2>&1"
