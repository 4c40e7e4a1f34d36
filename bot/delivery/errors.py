"""The error a sender raises when it gives up on one delivery."""

from __future__ import annotations


class DeliveryError(Exception):
    """A delivery failed; ``retryable`` says whether trying again later can succeed.

    The message names the destination (without query string or credentials), the HTTP status and a trimmed
    response body where there was one; it never contains a secret.
    """

    def __init__(self, message: str, retryable: bool, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status

    def __repr__(self) -> str:
        return f"DeliveryError({self.message!r}, retryable={self.retryable}, status={self.status})"
