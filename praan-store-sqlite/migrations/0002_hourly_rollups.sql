-- praan's schema, version 2: hourly rollups of readings, so statistics whose buckets are whole
-- hours read one row per (device, hour) instead of every reading. An upgraded database starts with
-- no rollups; they are built as readings arrive (see praan-store-sqlite/src/rollups.rs).

-- The span [rollup_from, rollup_until) of hour starts (Unix ms) whose rollups are maintained;
-- NULL: none yet.
ALTER TABLE device_state ADD COLUMN rollup_from INTEGER;
ALTER TABLE device_state ADD COLUMN rollup_until INTEGER;

-- Per device and hour (the hour's start, Unix ms): the number of readings `n`, and in `data`, per
-- metric in the order of praan's Metric::ALL, four little-endian 8-byte values: how many readings
-- carried it (i64), their min, max and sum (f64; 0 when none did). One blob instead of 32
-- columns: a year of hourly statistics is 8,760 rows of three values to decode. Only non-empty
-- hours have a row. Statistics read a range of the primary key.
CREATE TABLE reading_rollups (
    device_id TEXT    NOT NULL,
    hour      INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (device_id, hour)
) WITHOUT ROWID;
