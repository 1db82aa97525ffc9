"""Training recipes on Lightning."""
