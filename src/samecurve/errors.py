"""User-facing errors: the CLI turns each into one line on stderr and exit code 2."""


class SamecurveError(Exception):
    """Base for every error a user can meet; the message says what to do."""


class UnknownNameError(SamecurveError):
    """A task, arm, organism or suite name that is not registered."""


class ConfigError(SamecurveError):
    """A malformed option or configuration."""


class OrganismFailedError(SamecurveError):
    """An organism did not learn its clean task or its planted property well enough to be used."""


class CorruptCacheError(SamecurveError):
    """A cached file does not match its recorded hash."""


class BudgetExceeded(SamecurveError):
    """An arm tried to spend more than its budget allows. `resource` names the budget field when
    the meter raised it; "wall_seconds" marks the one overdraw that depends on the machine."""

    def __init__(self, message: str = "", resource: str | None = None):
        super().__init__(message)
        self.resource = resource


class AccessDenied(SamecurveError):
    """An arm asked for a kind of model access its declared access level does not grant."""


class MissingDependencyError(SamecurveError):
    """An optional dependency is not installed."""
