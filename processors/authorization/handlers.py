"""The authorization processor's handler tables (grep here to see what the processor reacts to)."""

from __future__ import annotations

from processors.authorization import drivers, tokens
from processors.authorization.decisions import on_answers
from processors.authorization.sites import apply_registry_entry
from processors.runtime import BatchHandler, Handler, command_handler

COMMANDS = {
    "CreateDriver": drivers.create_driver,
    "UpdateDriver": drivers.update_driver,
    "DeleteDriver": drivers.delete_driver,
    "SetMembershipLevel": drivers.set_membership_level,
    "DefineMembershipLevel": drivers.define_membership_level,
    "IssueToken": tokens.issue_token,
    "UpdateToken": tokens.update_token,
    "BlockToken": tokens.block_token,
    "UnblockToken": tokens.unblock_token,
    "ExpireToken": tokens.expire_token,
    "ReportTokenLost": tokens.report_token_lost,
    "TransferToken": tokens.transfer_token,
    "DeleteToken": tokens.delete_token,
}

HANDLERS: dict[str, list[Handler]] = {
    "csms.common.Command": [command_handler("authorization", COMMANDS)],
    "csms.stations.StationRegistryEntry": [apply_registry_entry],
}
BATCH_HANDLERS: dict[str, BatchHandler] = {
    "csms.ocpp.OcppMessage": on_answers,
}
