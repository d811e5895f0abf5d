"""Local authorization lists: the list a station should hold, derived from the tokens permitted there.

A token is permitted at a station when its driver has no restriction (both allowed lists null), or the station
is in the driver's `allowed_station_ids`, or the station's location (from `stations.registry`) is in
`allowed_location_ids`; a token with no driver is permitted everywhere. Entries carry the published status, so a
blocked card is on the list as Blocked. Each station's list has a content hash; `list_version` increments only
when the content changes, ready for SendLocalList (edge-operations issue).

Cost: a refresh recomputes every known station's list (stations x tokens); fine for thousands of stations and
tens of thousands of tokens, to be made incremental before 100,000 stations.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from processors.authorization.publish import emit_event
from processors.runtime import UnitOfWork

ENTRIES = """
    select st.station_id, t.token_key, t.id_token, t.token_type, t.expires_at, t.group_id,
           case when t.status = 'ACTIVE' and coalesce(d.status, 'ACTIVE') <> 'ACTIVE' then 'BLOCKED'
                else t.status end as status
    from station_sites st
    join id_tokens t on t.deleted_at is null
    left join drivers d on d.id = t.driver_id
    where d.id is null
       or (d.allowed_station_ids is null and d.allowed_location_ids is null)
       or st.station_id = any(d.allowed_station_ids)
       or st.location_id = any(d.allowed_location_ids)
"""

_REFRESH = sa.text(
    f"""
    with entries as ({ENTRIES}),
    digest as (
      select st.station_id,
             md5(coalesce(string_agg(e.token_key || '|' || e.status || '|' || coalesce(e.expires_at::text, '') || '|'
                                     || coalesce(e.group_id, ''), ',' order by e.token_key), '')) as content_hash,
             count(e.token_key) as n
      from station_sites st left join entries e on e.station_id = st.station_id
      where cast(:station as text) is null or st.station_id = cast(:station as text)
      group by st.station_id
    )
    insert into local_auth_lists (station_id, list_version, content_hash, entries, updated_at)
    select station_id, 1, content_hash, n, :at from digest
    on conflict (station_id) do update set
      list_version = local_auth_lists.list_version + 1, content_hash = excluded.content_hash,
      entries = excluded.entries, updated_at = excluded.updated_at
    where local_auth_lists.content_hash <> excluded.content_hash
    returning station_id, list_version, entries
    """
)


async def refresh_local_lists(uow: UnitOfWork, at: datetime, station_id: str | None = None) -> int:
    """Recompute the lists (of one station, or all); emit LocalAuthListChanged for each that changed."""
    changed = 0
    for row in await uow.conn.execute(_REFRESH, {"at": at, "station": station_id}):
        emit_event(uow, "LocalAuthListChanged", row.station_id, {
            "station_id": row.station_id, "list_version": row.list_version, "entries": row.entries,
            "changed_at": at})
        changed += 1
    return changed
