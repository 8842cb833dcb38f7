"""``python -m libbpfpy``: the libbpfpy command."""
import sys

from .cli import main

sys.exit(main())
