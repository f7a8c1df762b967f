rule train:
    input:
        base=f"{R}/base/model",
        train=f"{R}/data/train.jsonl",
        val=f"{R}/data/val.jsonl",
    output:
        checkpoints=[directory(f"{R}/train/{{algo}}-s{{seed}}/step{s}") for s in STEPS],
    log:
        f"{LOGS}/train/{{algo}}-s{{seed}}.log",
    benchmark:
        f"{LOGS}/benchmarks/train_{{algo}}-s{{seed}}.tsv"
    conda:
        ENV
    threads: CFG.threads
    resources:
        **train_resources(),
    params:
        config=CONFIG_FILE,
        settings=train_settings,
        run_dir=f"{R}/train/{{algo}}-s{{seed}}",
    shell:
        "python -m workflow.train --config {params.config} --algo {wildcards.algo} --seed {wildcards.seed}"
        " --base {input.base} --data {input.train} --val {input.val} --out {params.run_dir} > {log} 2>&1"
