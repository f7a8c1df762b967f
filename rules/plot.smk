rule plot_passk:
    input:
        config=CONFIG_FILE,
        passk=f"{R}/tables/passk_{{dataset}}.csv",
        summary=f"{R}/tables/summary_{{dataset}}.md",
    output:
        png=f"{R}/figures/passk_{{dataset}}.png",
        pdf=f"{R}/figures/passk_{{dataset}}.pdf",
    log:
        f"{LOGS}/plot_passk_{{dataset}}.log",
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        stem=f"{R}/figures/passk_{{dataset}}",
    shell:
        "python -m workflow.plot --config {input.config} --passk {input.passk} --summary {input.summary}"
        " --out {params.stem} > {log} 2>&1"
