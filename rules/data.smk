if CFG.data.task == "countdown":

    rule prepare_data:
        output:
            train=f"{R}/data/train.jsonl",
            val=f"{R}/data/val.jsonl",
            test=f"{R}/data/test.jsonl",
        log:
            f"{LOGS}/data.log",
        conda:
            ENV
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            config=CONFIG_FILE,
            settings=cfg_hash("seed", "data"),
            out=parent_of("train"),
        shell:
            "python -m workflow.data --config {params.config} --out {params.out} > {log} 2>&1"

else:

    rule split_benchmark:
        input:
            source=f"{R}/data/{CFG.data.benchmark}.jsonl",
        output:
            train=f"{R}/data/train.jsonl",
            val=f"{R}/data/val.jsonl",
            test=f"{R}/data/test.jsonl",
        log:
            f"{LOGS}/data.log",
        conda:
            ENV
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            config=CONFIG_FILE,
            settings=cfg_hash("seed", "data"),
            out=parent_of("train"),
        shell:
            "python -m workflow.data --config {params.config} --source {input.source} --out {params.out} > {log} 2>&1"
