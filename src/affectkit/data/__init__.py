"""Emotion datasets with their official splits."""
