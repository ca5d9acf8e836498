"""Offline sandbox providers for the embedded default (`make run`): refused in production."""
