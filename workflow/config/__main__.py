"""``python -m workflow.config [file]``: print the resolved configuration (see ``workflow.config``)."""

from workflow.config import main

main()
