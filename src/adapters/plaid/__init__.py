"""Plaid Identity Verification: the verifier (plaid-python), webhook verification and the webhook decoder."""
