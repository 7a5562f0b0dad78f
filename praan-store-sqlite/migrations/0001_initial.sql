-- praan's schema, version 1. Every instant is INTEGER Unix milliseconds; ids are TEXT compared
-- byte by byte (SQLite's default BINARY collation); nested records are JSON TEXT written by the
-- domain's own serde. Every query the store makes has an index (see the comments).

-- The device registry. list_devices: by id (primary key), by status or type (indexes below).
CREATE TABLE devices (
    device_id        TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    device_type      TEXT    NOT NULL,
    location         TEXT,
    max_fan_speed    INTEGER NOT NULL,
    model            TEXT,
    firmware_version TEXT,
    status           TEXT    NOT NULL,
    auto_registered  INTEGER NOT NULL,
    registered_at    INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX devices_by_status ON devices (status, device_id);
CREATE INDEX devices_by_type ON devices (device_type, device_id);

-- What praan observed of each device, one row per device, written by ingestion and presence
-- tracking. The latest reading is a copy (latest_*: the columns of a reading) so retention never
-- takes it away.
CREATE TABLE device_state (
    device_id               TEXT    NOT NULL PRIMARY KEY,
    reported_power          INTEGER,
    reported_speed          INTEGER,
    reported_at             INTEGER,
    presence_online         INTEGER,
    presence_since          INTEGER,
    presence_reason         TEXT,
    last_seen               INTEGER,
    latest_ts               INTEGER,
    latest_received_at      INTEGER,
    latest_network_strength REAL,
    latest_temperature      REAL,
    latest_humidity         REAL,
    latest_pm1              REAL,
    latest_pm25             REAL,
    latest_pm10             REAL,
    latest_sound            REAL,
    latest_voc              REAL,
    latest_fan_speed        INTEGER,
    latest_power_on         INTEGER
) WITHOUT ROWID;

-- Telemetry: one row per (device, device timestamp), clustered by that key, so a device's range
-- query, latest reading and statistics are one range of the primary key. One real column per
-- metric, for SQL aggregates.
CREATE TABLE readings (
    device_id        TEXT    NOT NULL,
    ts               INTEGER NOT NULL,
    received_at      INTEGER NOT NULL,
    network_strength REAL,
    temperature      REAL,
    humidity         REAL,
    pm1              REAL,
    pm25             REAL,
    pm10             REAL,
    sound            REAL,
    voc              REAL,
    fan_speed        INTEGER,
    power_on         INTEGER,
    PRIMARY KEY (device_id, ts)
) WITHOUT ROWID;
-- Retention: the oldest readings across all devices.
CREATE INDEX readings_by_ts ON readings (ts);

-- Durable commands. Attempts and acks are JSON.
CREATE TABLE commands (
    command_id       TEXT    NOT NULL PRIMARY KEY,
    device_id        TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    value            INTEGER NOT NULL,
    source           TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    acknowledged_at  INTEGER,
    completed_at     INTEGER,
    attempts         TEXT    NOT NULL,
    next_deadline    INTEGER,
    expires_at       INTEGER,
    error            TEXT,
    device_response  TEXT,
    late_ack         TEXT,
    idempotency_key  TEXT,
    superseded_by    TEXT
) WITHOUT ROWID;
-- commands_for_device, with and without a status filter.
CREATE INDEX commands_by_device ON commands (device_id, created_at, command_id);
CREATE INDEX commands_by_device_status ON commands (device_id, status, created_at, command_id);
-- unfinished_commands.
CREATE INDEX commands_unfinished ON commands (created_at, command_id)
    WHERE status IN ('pending', 'sent');
-- Retention of terminal commands.
CREATE INDEX commands_finished ON commands (created_at)
    WHERE status NOT IN ('pending', 'sent');
-- An idempotency key is unique per device; command_by_idempotency_key.
CREATE UNIQUE INDEX commands_idempotency ON commands (device_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Schedules; the rule is the JSON of the domain's RuleSpec.
CREATE TABLE schedules (
    schedule_id      TEXT    NOT NULL PRIMARY KEY,
    device_id        TEXT    NOT NULL,
    rule             TEXT    NOT NULL,
    is_active        INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX schedules_by_device ON schedules (device_id, created_at, schedule_id);
CREATE INDEX schedules_active ON schedules (created_at, schedule_id) WHERE is_active = 1;

-- Schedule runs stay when their schedule is deleted (history, until retention).
CREATE TABLE schedule_runs (
    run_id           TEXT    NOT NULL PRIMARY KEY,
    schedule_id      TEXT    NOT NULL,
    device_id        TEXT    NOT NULL,
    boundary         TEXT    NOT NULL,
    at               INTEGER NOT NULL,
    outcome          TEXT    NOT NULL,
    command_id       TEXT
) WITHOUT ROWID;
CREATE INDEX schedule_runs_by_schedule ON schedule_runs (schedule_id, at, run_id);
CREATE INDEX schedule_runs_by_at ON schedule_runs (at);

-- Pre-cleans; the mode and restore info are JSON.
CREATE TABLE pre_cleans (
    pre_clean_id     TEXT    NOT NULL PRIMARY KEY,
    device_id        TEXT    NOT NULL,
    mode             TEXT    NOT NULL,
    target_power     INTEGER NOT NULL,
    target_speed     INTEGER NOT NULL,
    duration_seconds INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    ends_at          INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    ended_at         INTEGER,
    command_id       TEXT,
    restore          TEXT,
    replaced_by      TEXT
) WITHOUT ROWID;
-- At most one active pre-clean per device; active_pre_clean.
CREATE UNIQUE INDEX pre_cleans_one_active ON pre_cleans (device_id) WHERE status = 'active';
-- active_pre_cleans, soonest end first.
CREATE INDEX pre_cleans_active_by_end ON pre_cleans (ends_at, pre_clean_id) WHERE status = 'active';
-- pre_clean_history.
CREATE INDEX pre_cleans_by_device ON pre_cleans (device_id, started_at, pre_clean_id);
-- Retention of finished pre-cleans.
CREATE INDEX pre_cleans_finished ON pre_cleans (coalesce(ended_at, ends_at))
    WHERE status <> 'active';

-- The control layers' intent, one JSON record per device.
CREATE TABLE control_states (
    device_id        TEXT    NOT NULL PRIMARY KEY,
    record           TEXT    NOT NULL
) WITHOUT ROWID;
