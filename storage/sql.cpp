#include "storage/sql.hpp"

namespace maxsess::storage::detail {

const char* const sql_begin = "BEGIN";
const char* const sql_commit = "COMMIT";
const char* const sql_rollback = "ROLLBACK";

const char* const sql_migrate_lock = "SELECT pg_advisory_lock($1::bigint)";
const char* const sql_migrate_unlock = "SELECT pg_advisory_unlock($1::bigint)";
const char* const sql_create_schema_version =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version int PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
const char* const sql_has_schema_version =
    "SELECT to_regclass('schema_version') IS NOT NULL";
const char* const sql_schema_version = "SELECT coalesce(max(version), 0) FROM schema_version";
const char* const sql_record_migration =
    "INSERT INTO schema_version (version, name) VALUES ($1::int, $2)";

const char* const sql_get_account =
    "SELECT account_id, max_sessions, exempt FROM accounts WHERE account_id = $1";
const char* const sql_upsert_account =
    "INSERT INTO accounts (account_id, max_sessions, exempt, updated_at)"
    " VALUES ($1, $2::bigint, $3::boolean, now())"
    " ON CONFLICT (account_id) DO UPDATE SET"
    " max_sessions = EXCLUDED.max_sessions, exempt = EXCLUDED.exempt, updated_at = now()";
// DELETE /api/v1/accounts/{id}: the account falls back to the defaults. Its
// session rows stay (killed ones refuse their tokens; clear removes them).
const char* const sql_delete_account = "DELETE FROM accounts WHERE account_id = $1";

// The columns of a session row, in the order the row reader expects them
// (one place, so the two statements that read sessions cannot drift apart).
#define MAXSESS_SESSION_COLUMNS                                                   \
  "SELECT account_id, device_id, status, content_type, stream, content_start,"   \
  " content_duration, streamer_id, client_ip, flussonic::text, token,"           \
  " (extract(epoch FROM started_at) * 1000)::bigint,"                            \
  " (extract(epoch FROM updated_at) * 1000)::bigint,"                            \
  " (extract(epoch FROM ended_at) * 1000)::bigint,"                              \
  " duration_s, bytes, end_reason, exempt, over_limit"

const char* const sql_sessions_of_account =
    MAXSESS_SESSION_COLUMNS
    " FROM playback_sessions WHERE account_id = $1"
    " ORDER BY started_at, device_id";
// Every row of the accounts of one shard that hold a live session, and
// their settings: what a new owner loads at takeover (one round trip each).
// `shard = $1` outside too and `= ANY (ARRAY(...))` rather than `IN (...)`:
// both keep the planner on the (shard, status_class) index instead of a hash join
// over the whole table (1.1 s per shard at 1 M rows; ~0.1 s like this).
const char* const sql_live_sessions_of_shard =
    MAXSESS_SESSION_COLUMNS
    " FROM playback_sessions WHERE shard = $1::int AND account_id = ANY (ARRAY("
    "   SELECT DISTINCT account_id FROM playback_sessions"
    "   WHERE shard = $1::int AND status_class = 'live'))"
    " ORDER BY account_id, started_at, device_id";
// GET /api/v1/sessions: one page across accounts, keyset-paged on
// (account_id, device_id) in byte order (COLLATE "C": the cursor and the
// prefix range [$3, $4) are exact whatever the database's locale, and the
// indexes of 008_session_listing serve it, with status_class in place of
// status since 010: a status filter reads its class's range, checks the
// status itself on the rows). Every filter is optional (NULL);
// PQexecParams plans with the values, so a NULL filter costs nothing. $7 is
// the page size plus one: a row beyond it says there is a next page.
const char* const sql_list_sessions =
    MAXSESS_SESSION_COLUMNS
    " FROM playback_sessions"
    " WHERE ($1::text IS NULL OR (status = $1::text AND status_class ="
    " CASE WHEN $1::text IN ('pending', 'active') THEN 'live' ELSE $1::text END))"
    " AND ($2::bigint IS NULL OR streamer_id = $2::bigint)"
    " AND ($3::text IS NULL OR (account_id COLLATE \"C\" >= $3::text"
    " AND account_id COLLATE \"C\" < $4::text))"
    " AND ($5::text IS NULL OR (account_id COLLATE \"C\", device_id COLLATE \"C\")"
    " > ($5::text COLLATE \"C\", $6::text COLLATE \"C\"))"
    " ORDER BY account_id COLLATE \"C\", device_id COLLATE \"C\""
    " LIMIT $7::int";
// Many accounts' state in one round trip each (cold loads, batched).
const char* const sql_sessions_of_accounts =
    MAXSESS_SESSION_COLUMNS
    " FROM playback_sessions WHERE account_id = ANY($1::text[])"
    " ORDER BY account_id, started_at, device_id";
const char* const sql_get_accounts =
    "SELECT account_id, max_sessions, exempt FROM accounts WHERE account_id = ANY($1::text[])";
// Cluster-wide streamer load, for placement (every node, every lease round).
const char* const sql_live_sessions_per_streamer =
    "SELECT streamer_id, count(*) FROM playback_sessions"
    " WHERE status_class = 'live' AND streamer_id <> 0 GROUP BY streamer_id";
const char* const sql_live_accounts_of_shard =
    "SELECT account_id, max_sessions, exempt FROM accounts WHERE account_id = ANY (ARRAY("
    "   SELECT DISTINCT account_id FROM playback_sessions"
    "   WHERE shard = $1::int AND status_class = 'live'))";
const char* const sql_count_sessions = "SELECT count(*) FROM playback_sessions";
const char* const sql_count_by_status =
    "SELECT status, count(*) FROM playback_sessions GROUP BY status";
// Live sessions per streamer for the metrics scrape (status_class is indexed
// with shard; the live rows are a small part of the table once clear runs).
const char* const sql_count_live_by_streamer =
    "SELECT streamer_id, status, count(*) FROM playback_sessions"
    " WHERE status_class = 'live' GROUP BY streamer_id, status";
// The status page's accounts at their limit: counted slots as account_state
// counts them (live, not exempt, not radio; an exempt account or a limit of 0
// never refuses). $1 the default max_sessions (accounts without a row), $2
// how many to return. Reads the live rows only (status_class is indexed with
// streamer and shard), like the metrics scrape.
const char* const sql_accounts_at_limit =
    "SELECT s.account_id, coalesce(a.max_sessions, $1::bigint) AS max_sessions, count(*) AS live"
    " FROM playback_sessions s LEFT JOIN accounts a ON a.account_id = s.account_id"
    " WHERE s.status_class = 'live' AND NOT s.exempt AND NOT s.over_limit"
    "   AND s.content_type <> 'radio' AND NOT coalesce(a.exempt, false)"
    " GROUP BY s.account_id, a.max_sessions"
    " HAVING coalesce(a.max_sessions, $1::bigint) > 0 AND count(*) >= coalesce(a.max_sessions, $1::bigint)"
    " ORDER BY s.account_id LIMIT $2::int";

// For the streamer jobs. A Flussonic session is open when its element of
// the flussonic array has "open": true.
const char* const sql_accounts_on_streamer =
    "SELECT DISTINCT account_id FROM playback_sessions"
    " WHERE streamer_id = $1::bigint AND status_class IN ('live', 'killed')"
    " ORDER BY account_id";
const char* const sql_killed_on_streamer =
    MAXSESS_SESSION_COLUMNS
    " FROM playback_sessions"
    " WHERE streamer_id = $1::bigint AND status_class = 'killed'"
    " AND (jsonb_array_length(flussonic) = 0 OR flussonic @> '[{\"open\": true}]')"
    " ORDER BY account_id, device_id";
// Newest row (by updated_at) per token. Only tokens that are not ours are
// asked for, and only those are in lookup_token (migration 009).
const char* const sql_resolve_tokens =
    "SELECT DISTINCT ON (lookup_token) lookup_token, account_id, device_id FROM playback_sessions"
    " WHERE lookup_token = ANY ($1::text[]) AND lookup_token <> ''"
    " ORDER BY lookup_token, updated_at DESC, account_id, device_id";
// Ended rows, and killed rows with no open Flussonic session, untouched for
// $1 ms (measured on the database clock).
const char* const sql_clear_sessions =
    "DELETE FROM playback_sessions"
    " WHERE (status_class = 'ended' AND updated_at < now() - $1::bigint * interval '1 millisecond')"
    " OR (status_class = 'killed' AND NOT flussonic @> '[{\"open\": true}]'"
    " AND updated_at < now() - $2::bigint * interval '1 millisecond')"
    " RETURNING account_id, device_id";

// Fenced upsert of many rows at once: one array per column (one statement,
// one plan, one executor start for a whole group commit instead of one per
// row); a stored row with a newer shard epoch is left alone. The arrays come
// in the binary format (writes.cpp), typed as the columns are. Keys must be
// distinct within one call (ON CONFLICT cannot touch a row twice);
// RETURNING names the rows the epoch check let through, the others were
// fenced.
//
// Most rows written exist already (a zap, progress, a sync's refresh), so
// the rows are first UPDATEd in place, and only those the UPDATE did not
// touch go through INSERT ... ON CONFLICT: new rows, and rows with a newer
// epoch, which the conflict's WHERE fences again. An ON CONFLICT update
// checks the index for a conflict and locks the row first, and that lock is
// a WAL record of its own: the plain UPDATE writes one record per row
// instead of two (issue 7, tenth round). The arrays are unnested in the
// select list (one row at a time, lockstep), not in FROM, whose function
// scan first copies every row into a tuplestore; the INSERT reads by
// subscript only the rows left over. The UPDATE joins the rows in array
// order (byte order of the key, writes.cpp) through the primary key, so it
// locks them in the progress fold's order.
const char* const sql_upsert_sessions =
    "WITH upd AS ("
    " UPDATE playback_sessions p SET"
    " shard = s.c3, shard_epoch = s.c4, status = s.c5, content_type = s.c6, stream = s.c7,"
    " content_start = s.c8, content_duration = s.c9, streamer_id = s.c10, client_ip = s.c11,"
    " flussonic = s.c12, token = s.c13, started_at = s.c14, ended_at = s.c16,"
    // The same session's counters and "last seen" only grow: a fold of the
    // progress journal (migration 011) may have put later ones into the row
    // than its owner holds (it reloaded the account, or a stale node took
    // the event).
    " updated_at = CASE WHEN p.started_at = s.c14 THEN greatest(p.updated_at, s.c15) ELSE s.c15 END,"
    " duration_s = CASE WHEN p.started_at = s.c14 THEN greatest(p.duration_s, s.c17) ELSE s.c17 END,"
    " bytes = CASE WHEN p.started_at = s.c14 THEN greatest(p.bytes, s.c18) ELSE s.c18 END,"
    " end_reason = s.c19, exempt = s.c20, over_limit = s.c21, lookup_token = s.c22"
    " FROM (SELECT generate_subscripts($1::text[], 1) AS n,"
    " unnest($1::text[]) AS c1, unnest($2::text[]) AS c2, unnest($3::int[]) AS c3, "
    " unnest($4::bigint[]) AS c4, unnest($5::text[]) AS c5, unnest($6::text[]) AS c6, "
    " unnest($7::text[]) AS c7, unnest($8::bigint[]) AS c8, "
    " unnest($9::bigint[]) AS c9, unnest($10::bigint[]) AS c10, "
    " unnest($11::text[]) AS c11, unnest($12::jsonb[]) AS c12, "
    " unnest($13::text[]) AS c13, unnest($14::timestamptz[]) AS c14, "
    " unnest($15::timestamptz[]) AS c15, unnest($16::timestamptz[]) AS c16, "
    " unnest($17::bigint[]) AS c17, unnest($18::bigint[]) AS c18, "
    " unnest($19::text[]) AS c19, unnest($20::boolean[]) AS c20, "
    " unnest($21::boolean[]) AS c21, unnest($22::text[]) AS c22"
    " ) s"
    " WHERE p.account_id = s.c1 AND p.device_id = s.c2 AND p.shard_epoch <= s.c4"
    " RETURNING s.n, p.account_id, p.device_id),"
    " ins AS ("
    " INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
    " content_type, stream, content_start, content_duration, streamer_id, client_ip,"
    " flussonic, token, started_at, updated_at, ended_at, duration_s, bytes, end_reason,"
    " exempt, over_limit, lookup_token)"
    " SELECT"
    " ($1::text[])[i], ($2::text[])[i], ($3::int[])[i], ($4::bigint[])[i], "
    " ($5::text[])[i], ($6::text[])[i], ($7::text[])[i], ($8::bigint[])[i], "
    " ($9::bigint[])[i], ($10::bigint[])[i], ($11::text[])[i], ($12::jsonb[])[i], "
    " ($13::text[])[i], ($14::timestamptz[])[i], ($15::timestamptz[])[i], "
    " ($16::timestamptz[])[i], ($17::bigint[])[i], ($18::bigint[])[i], "
    " ($19::text[])[i], ($20::boolean[])[i], ($21::boolean[])[i], ($22::text[])[i]"
    " FROM generate_subscripts($1::text[], 1) i WHERE i NOT IN (SELECT n FROM upd)"
    " ON CONFLICT (account_id, device_id) DO UPDATE SET"
    " shard = EXCLUDED.shard, shard_epoch = EXCLUDED.shard_epoch, status = EXCLUDED.status,"
    " content_type = EXCLUDED.content_type, stream = EXCLUDED.stream,"
    " content_start = EXCLUDED.content_start, content_duration = EXCLUDED.content_duration,"
    " streamer_id = EXCLUDED.streamer_id, client_ip = EXCLUDED.client_ip,"
    " flussonic = EXCLUDED.flussonic, token = EXCLUDED.token,"
    " started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,"
    " updated_at = CASE WHEN playback_sessions.started_at = EXCLUDED.started_at"
    "   THEN greatest(playback_sessions.updated_at, EXCLUDED.updated_at) ELSE EXCLUDED.updated_at END,"
    " duration_s = CASE WHEN playback_sessions.started_at = EXCLUDED.started_at"
    "   THEN greatest(playback_sessions.duration_s, EXCLUDED.duration_s) ELSE EXCLUDED.duration_s END,"
    " bytes = CASE WHEN playback_sessions.started_at = EXCLUDED.started_at"
    "   THEN greatest(playback_sessions.bytes, EXCLUDED.bytes) ELSE EXCLUDED.bytes END,"
    " end_reason = EXCLUDED.end_reason, exempt = EXCLUDED.exempt,"
    " over_limit = EXCLUDED.over_limit, lookup_token = EXCLUDED.lookup_token"
    " WHERE playback_sessions.shard_epoch <= EXCLUDED.shard_epoch"
    " RETURNING account_id, device_id)"
    " SELECT account_id, device_id FROM upd UNION ALL SELECT account_id, device_id FROM ins";

// Fenced delete. Answers (rows deleted, row present before): 0 deleted while
// present = fenced; absent = nothing to delete (ok).
const char* const sql_delete_session =
    "WITH deleted AS ("
    " DELETE FROM playback_sessions"
    " WHERE account_id = $1 AND device_id = $2 AND shard_epoch <= $3::bigint"
    " RETURNING 1)"
    " SELECT (SELECT count(*) FROM deleted),"
    " EXISTS (SELECT 1 FROM playback_sessions WHERE account_id = $1 AND device_id = $2)";

// The lease rows a write transaction's ops are fenced on ($1: int[]). FOR
// SHARE conflicts with the row lock of acquire's ON CONFLICT DO UPDATE (FOR
// NO KEY UPDATE), so a takeover waits until the write committed (the new
// owner's load then sees it), or the write sees the takeover and is fenced.
// In shard order, like every statement that takes several leases, so the
// two cannot deadlock.
const char* const sql_lock_shard_leases =
    "SELECT shard, owner, epoch FROM shard_leases WHERE shard = ANY ($1::int[])"
    " ORDER BY shard FOR SHARE";

// --- the progress journal (migration 011) ----------------------------------------

// One row per write transaction; $1 holds a line per entry (see 011).
const char* const sql_insert_progress = "INSERT INTO progress_journal (entries) VALUES ($1)";
// $1: the least age, in milliseconds, of the journal rows to fold.
const char* const sql_fold_progress =
    "SELECT entries, rows_updated FROM maxsess_fold_progress($1::bigint * interval '1 millisecond')";

// --- audit events ----------------------------------------------------------------

// Every event of a group commit in one statement (one array per column,
// unnested like the session upsert, but text arrays). Times are epoch
// milliseconds.
const char* const sql_insert_events =
    "INSERT INTO account_events (account_id, device_id, at, kind, reason, node, max_sessions,"
    " stream, streamer_id, client_ip, holders)"
    " SELECT c1, c2, timestamptz 'epoch' + c3 * interval '1 millisecond', c4, c5, c6, c7, c8,"
    " c9, c10, c11::jsonb"
    " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],"
    " $7::bigint[], $8::text[], $9::bigint[], $10::text[], $11::text[])"
    " AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11)";

#define MAXSESS_EVENT_COLUMNS                                                       \
  "SELECT id, account_id, device_id, (extract(epoch FROM at) * 1000)::bigint, kind," \
  " reason, node, max_sessions, stream, streamer_id, client_ip, holders::text"
// Paging is by (at, id): $1 since (epoch ms), $2 the id of the previous
// page's last event at that time (0: none), $3 how many (the caller asks
// one more than it shows, to know whether more follow). Served by
// account_events_account_idx (account_id, at, id) and account_events_at_idx
// (at, id) respectively; the row comparison keeps both to an index range.
const char* const sql_account_events_since =
    MAXSESS_EVENT_COLUMNS
    " FROM account_events WHERE account_id = $4"
    " AND (at, id) > (timestamptz 'epoch' + $1::bigint * interval '1 millisecond', $2::bigint)"
    " ORDER BY at, id LIMIT $3::int";
const char* const sql_events_since =
    MAXSESS_EVENT_COLUMNS
    " FROM account_events"
    " WHERE (at, id) > (timestamptz 'epoch' + $1::bigint * interval '1 millisecond', $2::bigint)"
    " ORDER BY at, id LIMIT $3::int";
// The newest $1 (newest first; the caller turns them around).
const char* const sql_account_events_latest =
    MAXSESS_EVENT_COLUMNS
    " FROM account_events WHERE account_id = $2 ORDER BY at DESC, id DESC LIMIT $1::int";
const char* const sql_events_latest =
    MAXSESS_EVENT_COLUMNS " FROM account_events ORDER BY at DESC, id DESC LIMIT $1::int";
#undef MAXSESS_EVENT_COLUMNS
// Retention: events before $1 (epoch ms), at most $2 of them per statement
// (the oldest, through account_events_at_idx), so one run never holds a
// long transaction over a big table.
const char* const sql_clear_events =
    "DELETE FROM account_events WHERE id IN ("
    " SELECT id FROM account_events"
    " WHERE at < timestamptz 'epoch' + $1::bigint * interval '1 millisecond'"
    " ORDER BY at, id LIMIT $2::int)";

const char* const sql_list_streamers =
    "SELECT id, host, url, api_url, api_user, api_password, link_mode, securetoken_secret,"
    " link_template, capacity, enabled, allowed_sources, access_secrets, api_tls_verify"
    " FROM streamers ORDER BY id";
const char* const sql_get_streamer =
    "SELECT id, host, url, api_url, api_user, api_password, link_mode, securetoken_secret,"
    " link_template, capacity, enabled, allowed_sources, access_secrets, api_tls_verify"
    " FROM streamers WHERE id = $1::bigint";
const char* const sql_put_streamer =
    "INSERT INTO streamers (id, host, url, api_url, api_user, api_password, link_mode,"
    " securetoken_secret, link_template, capacity, enabled, allowed_sources, access_secrets,"
    " api_tls_verify, updated_at)"
    " VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9, $10::bigint, $11::boolean, $12, $13,"
    " $14::boolean, now())"
    " ON CONFLICT (id) DO UPDATE SET"
    " host = EXCLUDED.host, url = EXCLUDED.url, api_url = EXCLUDED.api_url,"
    " api_user = EXCLUDED.api_user, api_password = EXCLUDED.api_password,"
    " link_mode = EXCLUDED.link_mode, securetoken_secret = EXCLUDED.securetoken_secret,"
    " link_template = EXCLUDED.link_template, capacity = EXCLUDED.capacity,"
    " enabled = EXCLUDED.enabled, allowed_sources = EXCLUDED.allowed_sources,"
    " access_secrets = EXCLUDED.access_secrets, api_tls_verify = EXCLUDED.api_tls_verify,"
    " updated_at = now()";
const char* const sql_delete_streamer = "DELETE FROM streamers WHERE id = $1::bigint";
#undef MAXSESS_SESSION_COLUMNS

// --- cluster -------------------------------------------------------------------
//
// Lease and heartbeat times are clock_timestamp() of the database (the time
// the statement runs, after any lock wait, where now() would be the start of
// the transaction), so the nodes' clocks never matter.

#define MAXSESS_MS_UNTIL(t) "(extract(epoch FROM (" t ") - clock_timestamp()) * 1000)::bigint"
#define MAXSESS_MS_SINCE(t) "(extract(epoch FROM clock_timestamp() - (" t ")) * 1000)::bigint"
#define MAXSESS_TTL(param) "clock_timestamp() + " param "::bigint * interval '1 millisecond'"

// Answers a row only when this call created the row.
const char* const sql_insert_cluster_meta =
    "INSERT INTO cluster_meta (shards, protocol_version) VALUES ($1::int, $2::int)"
    " ON CONFLICT (one) DO NOTHING RETURNING shards";
const char* const sql_read_cluster_meta =
    "SELECT shards, protocol_version, (extract(epoch FROM created_at) * 1000)::bigint"
    " FROM cluster_meta";

// A (re)start: a node that left under this id earlier is back.
const char* const sql_join_node =
    "INSERT INTO cluster_nodes AS n (node_id, http_address, cluster_address, protocol_version,"
    " started_at, heartbeat_at, leaving)"
    " VALUES ($1, $2, $3, $4::int, clock_timestamp(), clock_timestamp(), false)"
    " ON CONFLICT (node_id) DO UPDATE SET"
    " http_address = EXCLUDED.http_address, cluster_address = EXCLUDED.cluster_address,"
    " protocol_version = EXCLUDED.protocol_version, started_at = EXCLUDED.started_at,"
    " heartbeat_at = EXCLUDED.heartbeat_at, leaving = false";
// Keeps started_at and leaving of an existing row; recreates a row that an
// operator deleted.
const char* const sql_heartbeat_node =
    "INSERT INTO cluster_nodes AS n (node_id, http_address, cluster_address, protocol_version,"
    " started_at, heartbeat_at, leaving)"
    " VALUES ($1, $2, $3, $4::int, clock_timestamp(), clock_timestamp(), false)"
    " ON CONFLICT (node_id) DO UPDATE SET"
    " http_address = EXCLUDED.http_address, cluster_address = EXCLUDED.cluster_address,"
    " protocol_version = EXCLUDED.protocol_version, heartbeat_at = EXCLUDED.heartbeat_at";
const char* const sql_mark_node_leaving =
    "UPDATE cluster_nodes SET leaving = true WHERE node_id = $1";
// $1: alive_within in ms.
const char* const sql_list_nodes =
    "SELECT node_id, http_address, cluster_address, protocol_version,"
    " (extract(epoch FROM started_at) * 1000)::bigint, leaving,"
    " heartbeat_at > clock_timestamp() - $1::bigint * interval '1 millisecond',"
    " " MAXSESS_MS_SINCE("heartbeat_at")
    " FROM cluster_nodes ORDER BY node_id";

// Leases. Taking one: no row, an expired row, or our own row. The epoch
// grows whenever the taker did not hold the lease unexpired, so whatever an
// earlier holder still has in flight is fenced. Rows are taken and locked
// in key order, as the batch writer's FOR SHARE reads them, so two
// transactions that touch several leases cannot deadlock.
#define MAXSESS_LEASE_SQL(table, key)                                                      \
  lease_sql {                                                                              \
    "INSERT INTO " table " AS l (" key ", owner, epoch, expires_at)"                       \
    " SELECT id, $2, 1, " MAXSESS_TTL("$3")                                                \
    " FROM unnest($1::bigint[]) AS id ORDER BY id"                                         \
    " ON CONFLICT (" key ") DO UPDATE SET"                                                 \
    " epoch = CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > clock_timestamp()"     \
    " THEN l.epoch ELSE l.epoch + 1 END,"                                                  \
    " owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at"                            \
    " WHERE l.owner = EXCLUDED.owner OR l.expires_at <= clock_timestamp()"                 \
    " RETURNING " key ", owner, epoch, " MAXSESS_MS_UNTIL("expires_at"),                   \
                                                                                           \
    /* A row that expired but that nobody took is still ours: no other */                \
    /* node can have written under it, so it is extended, epoch kept. */                 \
    "WITH held AS ("                                                                       \
    " SELECT l." key " FROM " table " AS l"                                                \
    " JOIN unnest($2::bigint[], $3::bigint[]) AS h(id, epoch)"                             \
    " ON l." key " = h.id AND l.epoch = h.epoch"                                           \
    " WHERE l.owner = $1 ORDER BY l." key " FOR UPDATE OF l)"                              \
    " UPDATE " table " SET expires_at = " MAXSESS_TTL("$4")                                \
    " WHERE " key " IN (SELECT " key " FROM held) RETURNING " key,                         \
                                                                                           \
    /* Expires it now but keeps owner and epoch, so the next taker */                    \
    /* (even this node) bumps the epoch. */                                              \
    "UPDATE " table " SET expires_at = clock_timestamp()"                                  \
    " WHERE " key " = $1::bigint AND owner = $2 AND epoch = $3::bigint"                    \
    " AND expires_at > clock_timestamp() RETURNING " key,                                  \
                                                                                           \
    "SELECT " key ", owner, epoch, " MAXSESS_MS_UNTIL("expires_at")                        \
    " FROM " table " ORDER BY " key                                                        \
  }

const lease_sql sql_shard_leases = MAXSESS_LEASE_SQL("shard_leases", "shard");
const lease_sql sql_streamer_leases = MAXSESS_LEASE_SQL("streamer_leases", "streamer_id");

#undef MAXSESS_LEASE_SQL
#undef MAXSESS_TTL
#undef MAXSESS_MS_SINCE
#undef MAXSESS_MS_UNTIL

}  // namespace maxsess::storage::detail
