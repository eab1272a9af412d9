"""``python -m transfers.client``: the reference client's command line (`cli.main`)."""

import sys

from .cli import main

sys.exit(main())
