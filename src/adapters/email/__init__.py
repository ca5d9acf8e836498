"""`EmailSender` adapters: async SMTP for production, a database-backed sandbox mailbox for dev and tests.

Both log only the message id, the template and a short keyed hash of the recipient — never the subject or
the body, which hold one-time codes (RELIABILITY 24).
"""

import hashlib


def recipient_hash(address: str, key: bytes = b"") -> str:
    """A short, optionally keyed, digest of a recipient address: enough to correlate log lines, not to read them."""
    return hashlib.blake2b(address.strip().lower().encode(), key=key[:64], digest_size=8).hexdigest()


def message_id_for(idempotency_key: str, domain: str) -> str:
    """The RFC 5322 Message-ID of a send: the same idempotency key always yields the same id, so a retried
    send is recognisable downstream."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"
