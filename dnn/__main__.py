"""``python -m dnn``: the ``dnn`` command (see ``dnn.cli``)."""

import sys

from dnn.cli import main

sys.exit(main())
