"""Decoding media and writing results."""
