"""`python -m avssl.cli …`: the same as the `avssl` console script."""

import sys

from avssl.cli.app import main

sys.exit(main())
