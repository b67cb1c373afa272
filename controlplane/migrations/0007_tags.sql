-- Tags (key-value pairs, as JSON objects) on users and functions: the
-- policy engine sees them as mc:PrincipalTag/<key> and mc:ResourceTag/<key>.
ALTER TABLE users ADD COLUMN tags_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE functions ADD COLUMN tags_json TEXT NOT NULL DEFAULT '{}';
