-- The lead archive, version 1. Plain SQL that SQLite, PostgreSQL and the databases that follow
-- PostgreSQL (KingbaseES) all accept: no vendor types, no JSON operators, no ON CONFLICT.
-- Times are epoch milliseconds (UTC); JSON documents are TEXT; ids are made by the hub.

CREATE TABLE IF NOT EXISTS lead_versions (
    lead_id          VARCHAR(80)  NOT NULL,
    version          BIGINT       NOT NULL,  -- the lead's updated_at: one row per published version
    status           VARCHAR(16)  NOT NULL,
    model_id         VARCHAR(32)  NOT NULL,
    model_version    VARCHAR(32)  NOT NULL,
    finding          VARCHAR(200) NOT NULL,
    severity         VARCHAR(16)  NOT NULL,
    department       VARCHAR(32)  NOT NULL,
    jurisdiction     VARCHAR(32)  NOT NULL,
    subject_kind     VARCHAR(32)  NOT NULL,
    subject_key      VARCHAR(200) NOT NULL,
    case_no          VARCHAR(200),
    trigger_event_id VARCHAR(200) NOT NULL,
    due_at           BIGINT,
    raised_at        BIGINT       NOT NULL,
    raised_month     CHAR(7)      NOT NULL,  -- YYYY-MM of raised_at in China Standard Time, for statistics
    detected_at      BIGINT       NOT NULL,
    closed_at        BIGINT,
    status_reason    TEXT         NOT NULL,
    summary_zh       TEXT         NOT NULL,
    legal_basis_zh   TEXT         NOT NULL,
    evidence         TEXT         NOT NULL,  -- JSON array of {event_id, type, source, occurred_at}
    details          TEXT         NOT NULL,  -- JSON object of model-specific fields
    source_topic     VARCHAR(249) NOT NULL,
    source_partition INTEGER      NOT NULL,
    source_offset    BIGINT       NOT NULL,
    archived_at      BIGINT       NOT NULL,
    PRIMARY KEY (lead_id, version)
);

CREATE TABLE IF NOT EXISTS leads (
    lead_id          VARCHAR(80)  NOT NULL PRIMARY KEY,
    version          BIGINT       NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    model_id         VARCHAR(32)  NOT NULL,
    model_version    VARCHAR(32)  NOT NULL,
    finding          VARCHAR(200) NOT NULL,
    severity         VARCHAR(16)  NOT NULL,
    department       VARCHAR(32)  NOT NULL,
    jurisdiction     VARCHAR(32)  NOT NULL,
    subject_kind     VARCHAR(32)  NOT NULL,
    subject_key      VARCHAR(200) NOT NULL,
    case_no          VARCHAR(200),
    trigger_event_id VARCHAR(200) NOT NULL,
    due_at           BIGINT,
    raised_at        BIGINT       NOT NULL,
    raised_month     CHAR(7)      NOT NULL,
    detected_at      BIGINT       NOT NULL,
    closed_at        BIGINT,
    status_reason    TEXT         NOT NULL,
    summary_zh       TEXT         NOT NULL,
    legal_basis_zh   TEXT         NOT NULL,
    evidence         TEXT         NOT NULL,
    details          TEXT         NOT NULL,
    source_topic     VARCHAR(249) NOT NULL,
    source_partition INTEGER      NOT NULL,
    source_offset    BIGINT       NOT NULL,
    archived_at      BIGINT       NOT NULL
);

CREATE INDEX IF NOT EXISTS leads_model ON leads (model_id, raised_at);
CREATE INDEX IF NOT EXISTS leads_department ON leads (department, raised_at);
CREATE INDEX IF NOT EXISTS leads_jurisdiction ON leads (jurisdiction, raised_at);
CREATE INDEX IF NOT EXISTS leads_status ON leads (status, raised_at);
CREATE INDEX IF NOT EXISTS leads_due ON leads (due_at);
CREATE INDEX IF NOT EXISTS leads_raised ON leads (raised_at);

-- Officer actions outlive a rebuild of the two tables above: they are not derived from the lead topic.
CREATE TABLE IF NOT EXISTS actions (
    action_id VARCHAR(64)  NOT NULL PRIMARY KEY,
    lead_id   VARCHAR(80)  NOT NULL,
    officer   VARCHAR(100) NOT NULL,
    action    VARCHAR(16)  NOT NULL CHECK (action IN ('acknowledge', 'assign', 'outcome', 'close')),
    assignee  VARCHAR(100),
    outcome   VARCHAR(32),
    note      TEXT         NOT NULL,
    at        BIGINT       NOT NULL
);

CREATE INDEX IF NOT EXISTS actions_lead ON actions (lead_id, at);

CREATE TABLE IF NOT EXISTS audit_log (
    audit_id VARCHAR(64)  NOT NULL PRIMARY KEY,
    who      VARCHAR(100) NOT NULL,
    what     VARCHAR(200) NOT NULL,
    lead_id  VARCHAR(80),
    at       BIGINT       NOT NULL,
    allowed  SMALLINT     NOT NULL
);

CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)
