"""Seeded synthetic shop data (CLI: ``python -m wmsbridge_tools.synthetic``)."""

from wmsbridge_tools.synthetic.generator import BAD_KINDS, Manifest, ean13, ean13_check_digit, generate

__all__ = ["BAD_KINDS", "Manifest", "ean13", "ean13_check_digit", "generate"]
