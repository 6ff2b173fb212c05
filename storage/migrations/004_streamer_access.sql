-- 004_streamer_access: who may call the streamer-side endpoints as a
-- streamer (docs/security.md). One item per line; empty = no restriction.
--   allowed_sources: CIDRs of the streamer's source addresses.
--   access_secrets:  the secrets its auth/webhook URLs carry in the path
--                    (several while one rotates). Never returned by the API.
ALTER TABLE streamers ADD COLUMN IF NOT EXISTS allowed_sources text NOT NULL DEFAULT '';
ALTER TABLE streamers ADD COLUMN IF NOT EXISTS access_secrets text NOT NULL DEFAULT '';
