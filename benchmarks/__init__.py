"""Measurements of the assistant: ``make evaluate`` (understanding) and ``make bench`` (speed, memory)."""
