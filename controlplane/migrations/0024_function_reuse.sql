-- Instance reuse of WASI 0.3 HTTP functions, by opt-in: the JSON of
-- minicloud_runtime::Reuse (max_requests, max_concurrent, idle_timeout_ms),
-- or 'null' for a fresh instance per request (the default).
ALTER TABLE functions ADD COLUMN reuse_json TEXT NOT NULL DEFAULT 'null';
