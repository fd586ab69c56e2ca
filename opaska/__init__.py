"""opaska: a telecare alarm receiving platform for safety bands."""

__version__ = "0.1.0"
