"""The one error every backend raises: its own module, so a backend's client module and the package that picks
backends import it without importing each other."""


class BackendError(RuntimeError):
    """The backend cannot be used (not installed, cluster unreachable); the message says what to do."""
