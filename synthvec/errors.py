"""Errors that the command line turns into one clear line and exit code 2."""

from __future__ import annotations


class InputError(ValueError):
    """Invalid user input: a scenario, a data file or an option.

    The message names the file and the key or field at fault and what is
    allowed. The CLI prints it on one line and exits with code 2.
    """


class ConfigError(InputError):
    """A scenario value, key or section is invalid.

    Parameters
    ----------
    key : str
        Dotted key at fault (``"phantom.voxel_nm"``).
    message : str
        What is wrong and what is allowed.
    source : str, optional
        File the value came from.
    """

    def __init__(self, key: str, message: str, source: str | None = None):
        self.key = key
        self.message = message
        self.source = source
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.key}: {self.message}"

    def with_source(self, source: str) -> "ConfigError":
        return ConfigError(self.key, self.message, source)

    def under(self, prefix: str) -> "ConfigError":
        """The same error with its key placed under a parent section."""
        return ConfigError(f"{prefix}.{self.key}" if self.key else prefix, self.message, self.source)
