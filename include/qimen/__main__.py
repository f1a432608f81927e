"""`python -m qimen > docs/qimen-fields.md`: the field reference, generated from the one rules table."""

import sys

from qimen.rules import render_markdown

sys.stdout.write(render_markdown())
