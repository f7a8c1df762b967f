rule prepare_data:
    input:
        config=CONFIG_FILE,
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
        out=parent_of("train"),
    shell:
        "python -m workflow.data --config {input.config} --out {params.out} > {log} 2>&1"
