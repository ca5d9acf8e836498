"""Adapters backed by the operating system (clock)."""
