"""Patient safety checks that run on every message."""
