"""Security primitives: Argon2id password hashing, common-password list, AES-GCM secret box, randomness."""
