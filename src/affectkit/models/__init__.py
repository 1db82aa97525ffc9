"""Backbones, the multi-task emotion network, model cards and the Recognizer."""
