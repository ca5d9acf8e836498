"""The Litestar REST API."""
