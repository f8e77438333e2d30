"""autodp: automatic, private curation of instruction-tuning data."""

__version__ = "0.1.0"
