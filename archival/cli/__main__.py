"""`python -m archival.cli`."""

import sys

from archival.cli import main

sys.exit(main())
