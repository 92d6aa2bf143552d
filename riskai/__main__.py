"""`python -m riskai` = the `riskai` console script."""
import sys

from riskai.cli import main

sys.exit(main())
