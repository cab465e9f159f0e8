"""Errors of the human-in-loop server; every message says what to do next."""

from __future__ import annotations

from promptcraft.errors import PromptCraftError


class HumanInLoopError(PromptCraftError):
    """Base of the errors this package raises on purpose."""


class ApprovalNotFoundError(HumanInLoopError):
    """No approval with this id (never created, or expired from the store)."""


class InvalidApprovalRequestError(HumanInLoopError):
    """The request cannot be accepted as given (bounds, idempotency-key reuse)."""


class NotAllowedError(HumanInLoopError):
    """The identity may not do this (not an approver, the requester itself, not authenticated)."""


class DecisionConflictError(HumanInLoopError):
    """The decision contradicts one already recorded (a closed approval, a changed vote)."""


class LinkTokenError(HumanInLoopError):
    """An e-mail decision link is malformed, forged, expired or already used."""


class SlackRequestError(HumanInLoopError):
    """A Slack interactivity request failed verification."""


class DeliveryError(HumanInLoopError):
    """A notification channel did not accept a message; the delivery is retried."""
