"""Size limits on media, in a module of constants only.

Kept apart from :mod:`affectkit.io.media` so that the command line can show them in
``--help`` without importing numpy and the decoders (``affectkit --help`` stays fast).
"""

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest image, in pixels (width x height), that is read at all (``--max-pixels``)."""
