rule plot:
    input:
        table=figure_table,
    output:
        png=report(
            f"{R}/figures/{{figure}}_{{panel}}.png",
            caption="report/figure.rst",
            category="{panel}",
            subcategory="{figure}",
        ),
        pdf=f"{R}/figures/{{figure}}_{{panel}}.pdf",
    log:
        f"{LOGS}/plot/{{figure}}_{{panel}}.log",
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("study"),
        stem=f"{R}/figures/{{figure}}_{{panel}}",
    shell:
        "python -m workflow.plot --config {params.config} --figure {wildcards.figure} --table {input.table}"
        " --out {params.stem} > {log} 2>&1"


rule figures:
    input:
        all_figures(),
    localrule: True
