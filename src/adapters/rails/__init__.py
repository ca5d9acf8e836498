"""Payout rails: the NACHA file export and the manual (wire or cheque) record."""
