"""`python -m riskai.operations` = the `riskai` console script (for environments not pip-installed).

Kept for cron lines and scripts written before the command line moved to `riskai.cli`; the
command line sits above every package (it launches the dashboard and the collectors), so nothing in
`riskai.operations` imports it.
"""
import sys

from riskai.cli import main

sys.exit(main())
