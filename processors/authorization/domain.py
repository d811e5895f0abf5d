"""The authorization domain, pure: token keys and types, token status transitions, what the edge is told.

    AuthorizationError (ValueError)      a command the domain refuses; `status` is the outcome
                                         (INVALID, CONFLICT, NOT_FOUND)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AuthorizationError(ValueError):
    """Refused by the authorization domain; `status` is the command outcome to answer."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


TOKEN_TYPES = frozenset({"ISO14443", "ISO15693", "eMAID", "Central", "KeyCode", "MacAddress", "Local",
                         "NoAuthorization"})
DEFAULT_V16_TYPE = "ISO14443"  # a 1.6 idTag carries no type; the edge keys it as ISO14443 (TokenState doc)


def token_key(token_type: str, id_token: str) -> str:
    """The `auth.tokens` key: '<type>:<id token>' (e.g. 'ISO14443:04A2B3C4')."""
    return f"{token_type}:{id_token}"


def split_token_key(key: str) -> tuple[str, str]:
    """The (type, id token) of a token key; raises AuthorizationError when it is not one."""
    token_type, sep, id_token = key.partition(":")
    if not sep or token_type not in TOKEN_TYPES or not id_token:
        raise AuthorizationError("INVALID", f"not a token key '<type>:<id>': {key!r}")
    return token_type, id_token


class TokenStatus(StrEnum):
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"
    EXPIRED = "EXPIRED"
    LOST = "LOST"


# action -> (statuses it may start from, status it leads to); starting at the target is a no-op
_TRANSITIONS: dict[str, tuple[frozenset[TokenStatus], TokenStatus]] = {
    "block": (frozenset({TokenStatus.ACTIVE}), TokenStatus.BLOCKED),
    "unblock": (frozenset({TokenStatus.BLOCKED}), TokenStatus.ACTIVE),
    "expire": (frozenset({TokenStatus.ACTIVE, TokenStatus.BLOCKED}), TokenStatus.EXPIRED),
    "report_lost": (frozenset({TokenStatus.ACTIVE, TokenStatus.BLOCKED, TokenStatus.EXPIRED}), TokenStatus.LOST),
}


def token_transition(current: str, action: str) -> TokenStatus:
    """The status `action` leads to from `current` (a lost token is never unblocked: issue a new one)."""
    allowed, target = _TRANSITIONS[action]
    if TokenStatus(current) != target and TokenStatus(current) not in allowed:
        raise AuthorizationError("CONFLICT", f"cannot {action.replace('_', ' ')} a token that is {current}")
    return target


def published_status(token_status: str, *, deleted: bool, driver_status: str | None) -> str:
    """The TokenState.status the edge answers from.

    A deleted token is published as INVALID (not a tombstone: an explicit, versioned record is safe whatever the
    edge does with unknown tokens); an ACTIVE token of a suspended or deleted driver is published BLOCKED.
    """
    if deleted:
        return "INVALID"
    if token_status == TokenStatus.ACTIVE and driver_status not in (None, "ACTIVE"):
        return "BLOCKED"
    return token_status


@dataclass(frozen=True, slots=True)
class Decision:
    """One authorization decision the edge made, read from its answer."""

    token_type: str
    id_token: str
    outcome: str
    transaction_id: str | None

    @property
    def token_key(self) -> str:
        return token_key(self.token_type, self.id_token)


def decision_of(action: str, v16: bool, request: Mapping[str, Any], answer: Mapping[str, Any]) -> Decision | None:
    """The decision in an edge answer to Authorize / StartTransaction / StopTransaction / TransactionEvent."""
    if v16:
        info, tag = answer.get("idTagInfo"), request.get("idTag")
        if not isinstance(info, Mapping) or not isinstance(tag, str):
            return None
        tx = answer.get("transactionId") if action == "StartTransaction" else request.get("transactionId")
        return Decision(DEFAULT_V16_TYPE, tag, str(info.get("status")), None if tx is None else str(tx))
    info, token = answer.get("idTokenInfo"), request.get("idToken")
    if not isinstance(info, Mapping) or not isinstance(token, Mapping) or not isinstance(token.get("idToken"), str):
        return None
    tx = (request.get("transactionInfo") or {}).get("transactionId") if action == "TransactionEvent" else None
    return Decision(str(token.get("type", "Central")), token["idToken"], str(info.get("status")),
                    None if tx is None else str(tx))
