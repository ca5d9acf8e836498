"""The application API: one async function per use case, shared by HTTP, worker, CLI and tests."""
