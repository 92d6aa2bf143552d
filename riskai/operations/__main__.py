"""`python -m riskai.operations` = the `riskai` console script (for environments not pip-installed)."""
import sys

from riskai.operations.cli import main

sys.exit(main())
