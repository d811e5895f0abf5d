"""The station list (the API's hottest read, one prepared statement per page): the summary's exact shape, every
filter combined with the others and with the keyset cursor, and LIKE wildcards in the text search taken literally."""

from __future__ import annotations

import pytest

from tests.integration.read_api import _data as d

pytestmark = pytest.mark.integration


async def test_a_summary_has_the_documented_fields_and_values(api, admin_token):
    op, sid = d.uid("OP"), d.uid("CS")
    await d.station(api, sid, operator=op, lat=52.5, lon=13.4, connector_type="CCS2")
    await api.sql("stations", "insert into evses (station_id, evse_id) values ($1, 2)", sid)
    await api.sql("stations", """insert into connectors (station_id, evse_id, connector_id, connector_type, status)
        values ($1, 1, 2, 'TYPE_2', 'Charging'), ($1, 2, 1, 'CCS2', 'Available'), ($1, 2, 2, null, 'Faulted')""", sid)
    async with api.client(admin_token) as c:
        body = (await c.get("/api/v1/stations", params={"operator": op})).json()
        near = (await c.get("/api/v1/stations", params={"operator": op, "near": "52.5,13.41,2000"})).json()
    assert body == {"next_cursor": None, "items": [{
        "id": sid, "name": f"Station {sid}", "status": "ACCEPTED", "operator_id": op, "location_id": None,
        "latitude": "52.50000000", "longitude": "13.40000000", "address": None, "online": True, "last_seen_at": None,
        "ocpp_version": "ocpp1.6", "connector_types": ["CCS2", "TYPE_2"], "connectors_available": 2,
        "distance_m": None}]}
    [item] = near["items"]
    assert 600 < item["distance_m"] < 750  # 0.01 degree of longitude at 52.5° N is ~677 m


async def test_filters_combine_with_each_other_and_the_cursor(api, admin_token):
    op = d.uid("OP")
    ids = sorted(d.uid("CS") for _ in range(6))
    for i, sid in enumerate(ids):
        await d.station(api, sid, operator=op, lat=52.0 + i / 100, lon=13.0, connector_type="CHADEMO" if i % 2 else
                        "CCS2", status="PENDING" if i == 5 else "ACCEPTED")
    await api.sql("stations", "update stations set online = false where id = $1", ids[3])
    query = {"operator": op, "status": "ACCEPTED", "online": "true", "connector_type": "CHADEMO",
             "bbox": "51.9,12.9,52.1,13.1", "near": "52.0,13.0,20000", "q": "CS-", "limit": 1}
    seen = []
    async with api.client(admin_token) as c:
        cursor = None
        for _ in range(5):
            page = (await c.get("/api/v1/stations", params={**query, **({"cursor": cursor} if cursor else {})})).json()
            seen += [s["id"] for s in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == [ids[1]]  # odd = CHADEMO: 1, 3 (offline), 5 (pending)


async def test_the_text_search_takes_like_wildcards_literally(api, admin_token):
    op = d.uid("OP")
    literal, other = f"{d.uid('CS')}", f"{d.uid('CS')}"
    await d.station(api, literal, operator=op)
    await d.station(api, other, operator=op)
    await api.sql("stations", "update stations set name = 'Hall 100% _east/1' where id = $1", literal)
    await api.sql("stations", "update stations set name = 'Hall 1000 xeast' where id = $1", other)
    async with api.client(admin_token) as c:
        for text, expected in (("100%", [literal]), ("_east", [literal]), ("/1", [literal]), ("hall 1", sorted(
                [literal, other])), ("%", [literal])):
            found = (await c.get("/api/v1/stations", params={"operator": op, "q": text})).json()
            assert [s["id"] for s in found["items"]] == expected, text


async def test_coordinates_are_the_stored_numerics_text_and_a_location_fills_missing_ones(api, admin_token):
    op, on_equator, located = d.uid("OP"), d.uid("CS"), d.uid("CS")
    location = d.uid("LOC")
    await d.station(api, on_equator, operator=op, lat=0.0, lon=-0.5)
    await d.station(api, located, operator=op)
    await api.sql("stations", """insert into locations (id, name, operator_id, latitude, longitude, created_at,
        updated_at) values ($1, 'Depot', $2, 48.1, 11.25, now(), now())""", location, op)
    await api.sql("stations", "update stations set location_id = $1 where id = $2", location, located)
    async with api.client(admin_token) as c:
        items = (await c.get("/api/v1/stations", params={"operator": op})).json()["items"]
    coordinates = {i["id"]: (i["latitude"], i["longitude"]) for i in items}
    # str(Decimal) of a zero numeric(.., 8) would be "0E-8": the text is PostgreSQL's own rendering of the value
    assert coordinates == {on_equator: ("0.00000000", "-0.50000000"), located: ("48.10000000", "11.25000000")}
