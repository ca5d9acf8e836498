"""Errors that adapters raise through the ports, so use cases never see driver exceptions."""


class PortError(Exception):
    """Base class for failures reported by an outbound port."""


class ComponentUnavailable(PortError):
    """A dependency (database, job queue, provider) cannot be reached right now; retrying may help."""

    def __init__(self, component: str, detail: str) -> None:
        super().__init__(f"{component}: {detail}")
        self.component = component
        self.detail = detail


class ConflictError(PortError):
    """A uniqueness or concurrency rule held by the store refused the change."""
