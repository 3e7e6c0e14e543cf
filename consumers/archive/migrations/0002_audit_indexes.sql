-- The lead archive, version 2: the console's audit-log page filters by user and by lead, newest first.

CREATE INDEX IF NOT EXISTS audit_log_who ON audit_log (who, at);
CREATE INDEX IF NOT EXISTS audit_log_lead ON audit_log (lead_id, at)
