"""RLVR reasoning-boundary study: data -> base model -> RL per algorithm -> large-k sampling -> verification
-> pass@k analysis -> figures. An evaluation study (config `models`) skips training: benchmarks -> sampling
of existing checkpoints -> verification -> analysis -> figures.

Run the embedded default:   snakemake --cores 2
Another study:               snakemake --cores 2 --configfile config/<study>.yaml

results/ path grammar (S = config `study`):
  results/S/data/{dataset}.jsonl                              problems (train, val, test splits; or a benchmark)
  results/S/data/verl/{train,val}.parquet                    the splits in verl's schema (rl.engine: verl)
  results/S/base/model/                                       base model (HF save_pretrained), unless model.path
  results/S/train/{algo}-s{seed}/step{step}/                  RL checkpoints (HF); state.pt (builtin) or verl/
                                                              (verl: its checkpoints, stages, state.json, log)
  results/S/samples/{model}/{dataset}/shard{i}/from{j}.jsonl  samples j.. of shard i, model = base |
                                                              {algo}-s{seed}-step{step} | a `models` key
  results/S/verified/{model}/{dataset}/shard{i}.jsonl         samples + correct, verdict
  results/S/tables/{table}_{panel}.csv                        panel = dataset | {comparison}_{benchmark}
  results/S/figures/{figure}_{panel}.{png,pdf}
  results/S/wandb/                                            W&B runs (offline unless an API key is set)
  logs/S/...                                                  one log per job
"""


configfile: "config/config.yaml"


report: "rules/report/workflow.rst"


include: "rules/common.smk"


if BENCHMARKS:

    include: "rules/benchmarks.smk"


if not EVAL:

    include: "rules/data.smk"
    include: "rules/train.smk"


if PRETRAIN:

    include: "rules/pretrain.smk"


include: "rules/sample.smk"
include: "rules/analyze.smk"
include: "rules/plot.smk"


rule all:
    default_target: True
    input:
        final_outputs(),


onsuccess:
    print_summaries()
