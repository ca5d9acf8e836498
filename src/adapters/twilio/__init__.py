"""Twilio adapters: phone verification (Verify v2) and SMS."""
