"""The hexagon's boundary: use cases (the application API) and the outbound ports they need."""
