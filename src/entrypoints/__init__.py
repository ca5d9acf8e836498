"""Composition and delivery: settings, the composition root, and the HTTP, worker and CLI entry points."""
