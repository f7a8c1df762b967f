rule pretrain:
    input:
        config=CONFIG_FILE,
        train=f"{R}/data/train.jsonl",
    output:
        model=directory(f"{R}/base/model"),
    log:
        f"{LOGS}/pretrain.log",
    benchmark:
        f"{LOGS}/benchmarks/pretrain.tsv"
    conda:
        ENV
    threads: CFG.threads
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        wandb=f"{R}/wandb",
    shell:
        "python -m workflow.pretrain --config {input.config} --data {input.train} --out {output.model}"
        " --wandb-dir {params.wandb} > {log} 2>&1"
