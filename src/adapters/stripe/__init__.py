"""Stripe: webhook verification now; the payment gateway comes with membership billing."""
