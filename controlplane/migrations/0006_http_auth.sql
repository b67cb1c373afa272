-- Who may call a function over HTTP: anyone ('public', the foundation's
-- behaviour) or callers whose token allows functions:InvokeFunction on it
-- ('authenticated'). A custom route may override its function's setting;
-- an empty `auth` follows the function.
ALTER TABLE functions ADD COLUMN http_auth TEXT NOT NULL DEFAULT 'public';
ALTER TABLE routes ADD COLUMN auth TEXT NOT NULL DEFAULT '';
