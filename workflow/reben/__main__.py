"""`python -m reben ...`: the same as the `reben` command (reben.run.cli)."""

import sys

from reben.run.cli import main

sys.exit(main())
