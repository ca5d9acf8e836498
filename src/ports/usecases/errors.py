"""Errors a use case reports to its caller. Each has a stable `code`; the HTTP layer maps them to problem
documents in one place. Messages are safe to show: they never reveal whether an account exists."""

from collections.abc import Sequence
from datetime import timedelta


class UseCaseError(Exception):
    code = "use_case_error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.__doc__ or self.code)
        self.detail = detail


class InvalidInput(UseCaseError):
    """The request is well-formed but breaks a rule."""

    code = "invalid_input"

    def __init__(self, detail: str, problems: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.problems = tuple(problems)


class InvalidCredentials(UseCaseError):
    """The email, password or second factor is not right."""

    code = "invalid_credentials"


class SecondFactorRequired(UseCaseError):
    """This account uses two-factor authentication: send a TOTP or backup code."""

    code = "second_factor_required"


class EmailNotVerified(UseCaseError):
    """Verify your email address first: we sent you a code."""

    code = "email_not_verified"


class InvalidCode(UseCaseError):
    """The code is wrong, expired or already used."""

    code = "invalid_code"


class Throttled(UseCaseError):
    """Too many attempts; try again later."""

    code = "throttled"

    def __init__(self, retry_after: timedelta | None) -> None:
        super().__init__()
        self.retry_after = retry_after or timedelta(seconds=1)


class NotAuthenticated(UseCaseError):
    """Sign in first."""

    code = "not_authenticated"


class Forbidden(UseCaseError):
    """This action is not allowed for your account."""

    code = "forbidden"


class NotFound(UseCaseError):
    """Not found."""

    code = "not_found"


class StepUpRequired(UseCaseError):
    """Confirm your password (or second factor) again to continue."""

    code = "step_up_required"


class Refused(UseCaseError):
    """The action is not possible in the current state."""

    code = "not_possible_now"

    def __init__(self, detail: str, problems: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.problems = tuple(problems)


class CeremonyExpired(UseCaseError):
    """This sign-in step has expired or was already used: start again."""

    code = "ceremony_expired"


class NotOffered(UseCaseError):
    """This sign-in method is not enabled on this server."""

    code = "not_offered"
