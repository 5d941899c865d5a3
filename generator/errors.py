"""The failures obsgen reports to a person, each carrying where it happened."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One located mistake in an input file."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class ObsgenError(Exception):
    """Base of every error obsgen turns into a message and an exit code."""

    exit_code = 1


class InventoryError(ObsgenError):
    """Raised when an inventory (or another input file) breaks the format's rules."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class PackError(ObsgenError):
    """Raised when a rule pack or a template folder is malformed."""

    exit_code = 2


class RenderError(ObsgenError):
    """Raised when a rendered file fails to parse back or fails its own checks."""

    exit_code = 1


class OutputError(ObsgenError):
    """Raised when the output folder cannot be written safely."""

    exit_code = 1
