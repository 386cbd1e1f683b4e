-- The drop files the file provider has read: an unchanged file (same path, size and
-- modification time) is not read again, and a file refused whole stays visible here.
-- status: ingested (read; its bad lines are in rejected_signals), refused (too large, not a
-- regular file, no usable CSV header: skipped until it changes), failed (could not be read:
-- tried again next run). See docs/signals.md.
CREATE TABLE IF NOT EXISTS signals.provider_files (
    provider    text NOT NULL,
    path        text NOT NULL,
    fingerprint text,
    size_bytes  bigint,
    status      text NOT NULL CHECK (status IN ('ingested', 'refused', 'failed')),
    lines       bigint NOT NULL DEFAULT 0,
    inserted    bigint NOT NULL DEFAULT 0,
    rejected    bigint NOT NULL DEFAULT 0,
    error       text,
    read_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, path)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON signals.provider_files TO agent_warehouse_job;
