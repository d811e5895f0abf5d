"""Which CSMS-initiated commands may go to a station in which registration state (OCPP 1.6 section 4.2; 2.0.1 and
2.1 B02, B03), what the station's registration on a connection is, and how a station's queue moves around a
command that has to wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ocpp_edge import protocol as p
from ocpp_edge.decide import ConnectionContext, Decider, may_send
from ocpp_edge.dispatch import next_to_deliver
from ocpp_edge.presence import PendingCommand
from ocpp_edge.state import EdgeState

V16, V201, V21 = "ocpp1.6", "ocpp2.0.1", "ocpp2.1"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("version", [V16, V201, V21])
def test_accepted_allows_every_csms_initiated_action(version):
    assert all(may_send(version, "Accepted", action) for action in p.CSMS_INITIATED[version])


@pytest.mark.parametrize("version", [V16, V201, V21])
def test_rejected_allows_nothing(version):
    """1.6 section 4.2 "the Central System SHOULD NOT initiate any"; B03.FR.03 "The CSMS SHALL NOT initiate any
    messages": no exception, not even TriggerMessage(BootNotification)."""
    assert not any(may_send(version, "Rejected", action) for action in p.CSMS_INITIATED[version])


def test_pending_16_allows_all_but_remote_start_and_stop():
    """1.6 section 4.2: "While in pending state, the following Central System initiated messages are not allowed:
    RemoteStartTransaction.req and RemoteStopTransaction.req"."""
    allowed = {a for a in p.CSMS_INITIATED[V16] if may_send(V16, "Pending", a)}
    assert p.CSMS_INITIATED[V16] - allowed == {"RemoteStartTransaction", "RemoteStopTransaction"}
    assert {"ChangeConfiguration", "GetConfiguration", "TriggerMessage", "Reset", "DataTransfer"} <= allowed


@pytest.mark.parametrize("version", [V201, V21])
def test_pending_2x_allows_the_provisioning_reads_and_writes_and_triggers_only(version):
    """B02.FR.01: B05 SetVariables, B06 GetVariables, B07 GetBaseReport, B08 GetReport; B02.FR.02/B02.FR.04/
    B02.FR.09 and F06.FR.17: TriggerMessage; B02.FR.05: RequestStart/StopTransaction only once accepted."""
    allowed = {a for a in p.CSMS_INITIATED[version] if may_send(version, "Pending", a)}
    assert allowed == {"SetVariables", "GetVariables", "GetBaseReport", "GetReport", "TriggerMessage"}
    for action in ("RequestStartTransaction", "RequestStopTransaction", "Reset", "SetChargingProfile",
                   "ChangeAvailability", "DataTransfer", "SetNetworkProfile"):
        assert not may_send(version, "Pending", action)


class _NoIds:
    async def next_id(self) -> int:
        raise AssertionError("not used")


def decider(**registry: str) -> Decider:
    state = EdgeState()
    for station_id, status in registry.items():
        state.apply("stations.registry", station_id, {"station_id": station_id, "status": status})
    return Decider(state, _NoIds(), unknown_stations="pending", heartbeat_interval=300, pending_interval=60)


def test_the_registration_on_a_connection_is_its_last_boot_answer_else_the_registry():
    d = decider(CP1="ACCEPTED", CP2="REJECTED", CP3="DECOMMISSIONED")
    fresh = ConnectionContext("CP1", V16)
    assert d.registration_on(fresh) == "Accepted"  # a reconnect without a reboot sends no BootNotification
    assert d.registration_on(ConnectionContext("CP2", V201)) == "Rejected"
    assert d.registration_on(ConnectionContext("CP3", V201)) == "Rejected"
    assert d.registration_on(ConnectionContext("NEW", V201)) == "Pending"  # the unknown-stations policy


def test_a_boot_answer_on_the_connection_wins_over_a_later_registry_change():
    d = decider(CP1="PENDING")
    ctx = ConnectionContext("CP1", V201)
    assert d.boot(ctx)["status"] == "Pending"
    d.state.apply("stations.registry", "CP1", {"station_id": "CP1", "status": "ACCEPTED"})
    assert d.registration_on(ctx) == "Pending"  # the station still believes it is Pending until its next boot
    assert d.boot(ctx)["status"] == "Accepted"
    assert d.registration_on(ctx) == "Accepted"
    d.state.apply("stations.registry", "CP1", {"station_id": "CP1", "status": "REJECTED"})
    assert d.boot(ctx)["status"] == "Rejected"
    assert d.registration_on(ctx) == "Rejected"


def command(name: str, action: str = "Reset", expires_in: float | None = None) -> PendingCommand:
    expires = NOW + timedelta(seconds=expires_in) if expires_in is not None else None
    return PendingCommand(name, "CP1", action, "{}", NOW - timedelta(seconds=10), expires)


def pick(queue: list[PendingCommand], *, allowed: set[str], taken: frozenset[str] = frozenset(),
         ours: frozenset[str] = frozenset()) -> str | None:
    found = next_to_deliver(queue, NOW, free=lambda c: c not in taken | ours, ours=lambda c: c in ours,
                            permitted=lambda c: c.action in allowed)
    return found.command_id if found else None


def test_a_command_that_may_not_go_keeps_its_place_and_holds_the_ones_behind_it():
    queue = [command("a", "RemoteStartTransaction"), command("b", "Reset")]
    assert pick(queue, allowed={"Reset"}) is None  # b is allowed, but it does not overtake a
    assert pick(queue, allowed={"Reset", "RemoteStartTransaction"}) == "a"


def test_expired_commands_are_taken_wherever_they_stand_to_be_answered_expired():
    queue = [command("a", "RemoteStartTransaction", expires_in=60), command("b", "Reset", expires_in=-1)]
    assert pick(queue, allowed=set()) == "b"
    assert pick([command("a", expires_in=0)], allowed=set()) == "a"


def test_claims_of_other_edges_are_skipped_but_our_own_unfinished_claim_keeps_its_place():
    queue = [command("a"), command("b")]
    assert pick(queue, allowed={"Reset"}, taken=frozenset({"a"})) == "b"  # another edge owns a
    assert pick(queue, allowed={"Reset"}, ours=frozenset({"a"})) is None  # our release of a is on its way
