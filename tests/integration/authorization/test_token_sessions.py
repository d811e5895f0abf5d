"""Open transactions per token: the authorization processor follows the edges' answers and keeps
`auth.token-sessions` (the state every edge answers ConcurrentTx from) in step with its `token_sessions` rows."""

from __future__ import annotations

from datetime import timedelta

from processors.authorization import AuthorizationSettings, spec
from tests.integration import domain_support as s

TOPICS = ["ocpp.messages", "auth.commands", "stations.registry", "auth.tokens", "auth.events", "auth.authorizations",
          "auth.token-sessions"]
CARD, APP = "ISO14443:04A2B3C4", "Central:APP-1"
V2 = "ocpp2.0.1"


def started(tx: str, token: dict, seq: int, kind: str = "Started") -> dict:
    return {"eventType": kind, "timestamp": "2026-03-01T08:05:04Z", "triggerReason": "Authorized", "seqNo": seq,
            "transactionInfo": {"transactionId": tx}, "idToken": token}


async def send(feed: s.Feed, steps: list, start: int) -> None:
    t = s.T0 + timedelta(minutes=5)
    for n, (station, action, request, answer, version) in enumerate(steps, start):
        await feed.charger_call(station, action, request, answer, at=t + timedelta(seconds=n), version=version)
    await feed.flush()


CARD2 = {"idToken": "04A2B3C4", "type": "ISO14443"}
# Ann's card charges on CS-1 (1.6) and CS-2 (2.0.1); the app token, sent by a 1.6 charger as a bare idTag, resolves
# to its Central token; a Blocked start opens nothing
STARTS = [
    ("CS-1", "StartTransaction", {"connectorId": 1, "idTag": "04A2B3C4", "meterStart": 0,
                                  "timestamp": "2026-03-01T08:05:01Z"},
     {"idTagInfo": {"status": "Accepted"}, "transactionId": 77}, "ocpp1.6"),
    ("CS-2", "TransactionEvent", started("tx-9", CARD2, 0), {"idTokenInfo": {"status": "Accepted"}}, V2),
    ("CS-3", "StartTransaction", {"connectorId": 2, "idTag": "APP-1", "meterStart": 10,
                                  "timestamp": "2026-03-01T08:05:03Z"},
     {"idTagInfo": {"status": "Accepted"}, "transactionId": 5}, "ocpp1.6"),
    ("CS-4", "TransactionEvent", started("tx-10", CARD2, 0), {"idTokenInfo": {"status": "Blocked"}}, V2),
]
# stops close whatever token they carry (none here); an Updated event of an open transaction changes nothing;
# CS-5 opens and closes tx-11 (maybe in one batch: then nothing is published for it, which is the same state)
STOPS = [
    ("CS-1", "StopTransaction", {"transactionId": 77, "meterStop": 900, "timestamp": "2026-03-01T09:00:00Z"},
     {}, "ocpp1.6"),
    ("CS-2", "TransactionEvent", started("tx-9", CARD2, 1, "Updated"), {"idTokenInfo": {"status": "Accepted"}}, V2),
    ("CS-5", "TransactionEvent", started("tx-11", CARD2, 0), {"idTokenInfo": {"status": "Accepted"}}, V2),
    ("CS-5", "TransactionEvent", {"eventType": "Ended", "timestamp": "2026-03-01T09:02:00Z",
                                  "triggerReason": "EVDeparted", "seqNo": 1,
                                  "transactionInfo": {"transactionId": "tx-11"}}, {}, V2),
]


def open_of(records: list, key: str) -> list:
    return [None if v is None else sorted((x["station_id"], x["transaction_id"]) for x in v["sessions"])
            for k, _, v in records if k == key]


async def test_open_transactions_per_token_follow_the_edge_answers(kafka_settings, fresh_database):
    await s.create_topics(kafka_settings, TOPICS)
    settings = AuthorizationSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    async with s.Feed(kafka_settings) as feed, s.running(spec(settings), settings):
        ids = [await feed.command("auth.commands", kind, payload, key="k", at=s.T0) for kind, payload in (
            ("CreateDriver", {"driver_id": "ann", "name": "Ann", "email": "ann@example.com"}),
            ("IssueToken", {"id_token": "04A2B3C4", "driver_id": "ann"}),
            ("IssueToken", {"id_token": "APP-1", "token_type": "Central", "driver_id": "ann"}))]
        await feed.flush()
        assert {o["status"] for o in (await s.outcomes(kafka_settings, ids)).values()} == {"CREATED"}
        await send(feed, STARTS, 0)

        async def both_open() -> bool:
            found = open_of(await s.read_topic(kafka_settings, "auth.token-sessions"), CARD)
            return bool(found) and found[-1] == [("CS-1", "77"), ("CS-2", "tx-9")]
        await s.wait_for(both_open, what="both of the card's transactions open")
        await send(feed, STOPS, len(STARTS))

        async def six_decided() -> bool:
            return len(await s.fetch(fresh_database, "select 1 from authorizations")) == 6  # stops carry no token
        await s.wait_for(six_decided, what="the decisions")
        await s.drained(fresh_database)
        rows = await s.fetch(fresh_database, "select station_id, transaction_id, token_key from token_sessions")
        records = await s.read_topic(kafka_settings, "auth.token-sessions")

    assert sorted(tuple(r) for r in rows) == [("CS-2", "tx-9", CARD), ("CS-3", "5", APP)]
    last = {key: value for key, _, value in records}  # what compaction keeps
    assert set(last) == {CARD, APP}
    assert [(x["station_id"], x["transaction_id"]) for x in last[APP]["sessions"]] == [("CS-3", "5")]
    assert last[CARD] is not None and [(x["station_id"], x["transaction_id"]) for x in last[CARD]["sessions"]] == [
        ("CS-2", "tx-9")]
    assert all(("CS-4", "tx-10") not in (sessions or []) for sessions in open_of(records, CARD)), \
        "a Blocked start opens nothing"
