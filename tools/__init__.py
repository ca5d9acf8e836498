"""Development tooling (not shipped): custom import-linter contracts."""
