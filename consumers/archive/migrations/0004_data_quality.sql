-- The lead archive, version 4: the data-quality scorecard (数据质量通报) per agency source.
-- The archiver counts every event and dead letter it reads, once (dq_offsets: the next offset per
-- partition, moved in the same transaction as the counts), by month of arrival (China time).
-- Delays are counted in buckets: < 1 h, < 1 d, < 3 d, < 7 d, < 30 d, >= 30 d (delay_0 … delay_5).

CREATE TABLE IF NOT EXISTS dq_monthly (
    month       CHAR(7)      NOT NULL,
    source      VARCHAR(64)  NOT NULL,
    record_type VARCHAR(64)  NOT NULL,
    accepted    BIGINT       NOT NULL,
    duplicates  BIGINT       NOT NULL,
    rec_0 BIGINT NOT NULL, rec_1 BIGINT NOT NULL, rec_2 BIGINT NOT NULL,   -- recorded_at - occurred_at
    rec_3 BIGINT NOT NULL, rec_4 BIGINT NOT NULL, rec_5 BIGINT NOT NULL,
    arr_0 BIGINT NOT NULL, arr_1 BIGINT NOT NULL, arr_2 BIGINT NOT NULL,   -- arrival (ingested_at) - recorded_at
    arr_3 BIGINT NOT NULL, arr_4 BIGINT NOT NULL, arr_5 BIGINT NOT NULL,
    PRIMARY KEY (month, source, record_type)
);

CREATE TABLE IF NOT EXISTS dq_rejections (
    month  CHAR(7)      NOT NULL,
    source VARCHAR(64)  NOT NULL,
    reason VARCHAR(200) NOT NULL,
    n      BIGINT       NOT NULL,
    PRIMARY KEY (month, source, reason)
);

CREATE TABLE IF NOT EXISTS dq_sources (
    source       VARCHAR(64) NOT NULL PRIMARY KEY,
    last_arrival BIGINT      NOT NULL
);

CREATE TABLE IF NOT EXISTS dq_seen (
    event_id VARCHAR(200) NOT NULL PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS dq_offsets (
    topic       VARCHAR(249) NOT NULL,
    part        INTEGER      NOT NULL,
    next_offset BIGINT       NOT NULL,
    PRIMARY KEY (topic, part)
)
