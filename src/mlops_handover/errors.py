"""The error every command reports to the user as it is (kept light for the CLI to import)."""


class HandoverError(Exception):
    """A failure to report to the user as it is, with the exit code the CLI should use."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
