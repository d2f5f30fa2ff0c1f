"""`python -m controlplane` runs the same CLI as the `controlplane` script."""

import sys

from controlplane.cli import main

sys.exit(main())
