"""Local fakes of external providers, for tests only (never shipped).

- `stripe_server`: a fake Stripe HTTP API (ASGI, served by uvicorn on loopback) with test controls.
- `stripe_fixtures`: Stripe's published example objects, used as templates and as the conformance reference.
"""
