"""`typing.Protocol` interfaces for everything outside the hexagon."""
