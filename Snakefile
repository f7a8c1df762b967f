"""RLVR reasoning-boundary study: data -> base model -> RL per algorithm -> large-k sampling -> verification
-> pass@k analysis -> figures.

Run the embedded default:   snakemake --cores 2
Another study:               snakemake --cores 2 --configfile config/<study>.yaml

results/ path grammar (S = config `study`):
  results/S/data/{split}.jsonl                                problems (train, val, test)
  results/S/base/model/                                       base model (HF save_pretrained)
  results/S/train/{algo}-s{seed}/step{step}/                  RL checkpoints (HF), state.pt for resuming
  results/S/samples/{model}/{dataset}/shard{i}.jsonl          samples, model = base | {algo}-s{seed}-step{step}
  results/S/verified/{model}/{dataset}/shard{i}.jsonl         samples + correct, verdict
  results/S/tables/{counts,passk}_{dataset}.csv, summary_{dataset}.{md,json}
  results/S/figures/passk_{dataset}.{png,pdf}
  results/S/wandb/                                            W&B runs (offline unless an API key is set)
  logs/S/...                                                  one log per job
"""


configfile: "config/config.yaml"


report: "rules/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/pretrain.smk"
include: "rules/train.smk"
include: "rules/sample.smk"
include: "rules/analyze.smk"
include: "rules/plot.smk"


rule all:
    default_target: True
    input:
        final_outputs(),


onsuccess:
    print_summaries()
