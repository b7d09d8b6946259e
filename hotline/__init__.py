"""hotline: the telephone side of the 12345 and 12319 government service hotlines."""

__version__ = "0.1.0"
