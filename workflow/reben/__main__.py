"""`python -m reben ...`: the same as the `reben` command (reben.run.cli)."""

import sys

from reben.run.cli import main

if __name__ == "__main__":
    sys.exit(main())
