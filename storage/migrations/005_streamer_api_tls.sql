-- 005_streamer_api_tls: per-streamer switch for the certificate check of an
-- https api_url (docs/flussonic.md). On by default: a fleet behind a private
-- CA trusts it through the system store or SSL_CERT_FILE; turning the check
-- off is for a streamer with a self-signed certificate, and is visible in GET.
ALTER TABLE streamers ADD COLUMN api_tls_verify boolean NOT NULL DEFAULT true;
