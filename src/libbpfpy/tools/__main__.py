"""``python -m libbpfpy.tools``: compile the tools' BPF objects into the package."""
import sys

from ._build import main

sys.exit(main())
