"""``python -m transport.introspection PATH``: print the live connections of a host."""

import sys

from transport.introspection.cli import main

sys.exit(main())
