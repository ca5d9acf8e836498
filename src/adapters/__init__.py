"""Implementations of the outbound ports, named technology + role."""
