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
    benchmark:
        f"{LOGS}/benchmarks/plot/{{figure}}_{{panel}}.tsv"
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


rule grid_table:
    input:
        tables=grid_tables,
    output:
        f"{R}/tables/{{grid}}.csv",
    log:
        f"{LOGS}/grid_{{grid}}.log",
    benchmark:
        f"{LOGS}/benchmarks/grid_table/{{grid}}.tsv"
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        tables=grid_args,
    shell:
        "python -m workflow.grid --tables {params.tables} --out {output} > {log} 2>&1"


rule plot_grid:
    input:
        table=f"{R}/tables/{{grid}}.csv",
    output:
        png=report(
            f"{R}/figures/{{grid}}.png",
            caption="report/grid.rst",
            category="study",
            subcategory="{grid}",
        ),
        pdf=f"{R}/figures/{{grid}}.pdf",
    log:
        f"{LOGS}/plot/{{grid}}.log",
    benchmark:
        f"{LOGS}/benchmarks/plot_grid/{{grid}}.tsv"
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=CONFIG_FILE,
        settings=cfg_hash("study"),
        stem=f"{R}/figures/{{grid}}",
    shell:
        "python -m workflow.plot --config {params.config} --figure {wildcards.grid} --table {input.table}"
        " --out {params.stem} > {log} 2>&1"


rule figures:
    input:
        all_figures(),
    localrule: True
