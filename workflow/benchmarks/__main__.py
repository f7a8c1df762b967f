"""``python -m workflow.benchmarks``: see ``workflow.benchmarks``."""

from workflow.benchmarks import main

main()
