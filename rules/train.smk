rule verl_data:
    input:
        train=f"{R}/data/train.jsonl",
        val=f"{R}/data/val.jsonl",
    output:
        train=f"{R}/data/verl/train.parquet",
        val=f"{R}/data/verl/val.parquet",
    log:
        f"{LOGS}/verl_data.log",
    benchmark:
        f"{LOGS}/benchmarks/verl_data/verl_data.tsv"
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("seed", "data", "model", "templates"),
        out=parent_of("train"),
    shell:
        "python -m workflow.train.verl_data --config {params.config} --train {input.train} --val {input.val}"
        " --out {params.out} > {log} 2>&1"


rule train:
    input:
        unpack(train_inputs),
    output:
        checkpoints=[directory(f"{R}/train/{{algo}}-s{{seed}}/step{s}") for s in STEPS],
    log:
        f"{LOGS}/train/{{algo}}-s{{seed}}.log",
    benchmark:
        f"{LOGS}/benchmarks/train/{{algo}}-s{{seed}}.tsv"
    conda:
        ENV
    threads: train_threads()
    resources:
        **train_resources(),
    params:
        config=CONFIG_FILE,
        settings=train_settings,
        run_dir=f"{R}/train/{{algo}}-s{{seed}}",
        base=model_dir_of("base"),
    shell:
        "python -m workflow.train --config {params.config} --algo {wildcards.algo} --seed {wildcards.seed}"
        " --base {params.base} --data {input.train} --val {input.val} --out {params.run_dir} > {log} 2>&1"
