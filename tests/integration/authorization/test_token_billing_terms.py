"""auth.tokens carries what billing needs from a token: the owning driver's membership level (republished for
every token of the driver when it changes) and the token's budget caps (TokenState's nullable fields)."""

from __future__ import annotations

import pytest

from processors.authorization import AuthorizationSettings, spec
from tests.integration import domain_support as s

pytestmark = pytest.mark.integration
TOPICS = ["ocpp.messages", "auth.commands", "stations.registry", "auth.tokens", "auth.events", "auth.authorizations"]


async def test_membership_level_and_caps_reach_auth_tokens(kafka_settings, fresh_database):
    await s.create_topics(kafka_settings, TOPICS)
    settings = AuthorizationSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    steps = [
        ("gold", "DefineMembershipLevel", {"level": "GOLD", "name": "Gold"}),
        ("silver", "DefineMembershipLevel", {"level": "SILVER", "name": "Silver"}),
        ("cleo", "CreateDriver", {"driver_id": "cleo", "name": "Cleo", "email": "cleo@example.com",
                                  "membership_level": "GOLD"}),
        ("card", "IssueToken", {"id_token": "C1", "driver_id": "cleo", "caps": {
            "energy_wh_per_session": 20000, "seconds_per_month": 36000, "money_per_session": "15.50",
            "currency": "EUR"}}),
        ("app", "IssueToken", {"id_token": "A1", "token_type": "Central", "driver_id": "cleo"}),
        ("loose", "IssueToken", {"id_token": "L1"}),
        ("level", "SetMembershipLevel", {"driver_id": "cleo", "level": "SILVER"}),
        ("same", "SetMembershipLevel", {"driver_id": "cleo", "level": "SILVER"}),
        ("caps", "UpdateToken", {"token_key": "ISO14443:C1", "caps": {"energy_wh_per_month": 90000}}),
    ]
    async with s.Feed(kafka_settings) as feed, s.running(spec(settings), settings):
        ids = {name: await feed.command("auth.commands", kind, payload, key="terms",
                                        at=s.T0.replace(second=n))
               for n, (name, kind, payload) in enumerate(steps)}
        await feed.flush()
        outcomes = await s.outcomes(kafka_settings, ids.values())
        await s.drained(fresh_database)
        tokens = await s.read_topic(kafka_settings, "auth.tokens")

    assert {outcomes[cid]["status"] for cid in ids.values()} <= {"CREATED", "OK"}
    card = [v for k, _, v in tokens if k == "ISO14443:C1"]
    app = [v for k, _, v in tokens if k == "Central:A1"]
    loose = [v for k, _, v in tokens if k == "ISO14443:L1"]
    # a level change republishes every token of the driver; the same level again publishes nothing
    assert [(v["version"], v["membership_level"]) for v in card] == [(1, "GOLD"), (2, "SILVER"), (3, "SILVER")]
    assert [(v["version"], v["membership_level"]) for v in app] == [(1, "GOLD"), (2, "SILVER")]
    assert [(v["membership_level"], v["cap_energy_wh_per_session"]) for v in loose] == [(None, None)]
    caps = ("cap_energy_wh_per_session", "cap_energy_wh_per_month", "cap_seconds_per_session",
            "cap_seconds_per_month", "cap_money_per_session", "cap_money_per_month", "cap_currency")
    assert [card[0][c] for c in caps] == [20000, None, None, 36000, "15.50", None, "EUR"]
    # UpdateToken replaces the caps as a whole (its documented meaning)
    assert [card[2][c] for c in caps] == [None, 90000, None, None, None, None, None]
    assert app[0]["cap_money_per_session"] is None
