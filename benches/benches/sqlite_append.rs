//! `SqliteStore::append_readings` on a temporary database file: batches of 1, 100 and 1000
//! readings from 100 and from 10,000 devices, in readings per second.

use std::{hint::black_box, time::Duration};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use praan_benches::sqlite::{Workload, runtime};
use praan_core::store::TelemetryRepo;
use praan_store_sqlite::SqliteStore;

fn append(c: &mut Criterion) {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    let mut group = c.benchmark_group("sqlite_append");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for devices in [100, 10_000] {
        for batch in [1, 100, 1000] {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let store = rt
                .block_on(SqliteStore::connect(&url))
                .expect("open the database");
            let mut workload = Workload::new(devices, 120_000).expect("workload");
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{devices}_devices"), batch),
                &batch,
                |b, &batch| {
                    b.iter_batched(
                        || workload.next_batch(batch).expect("a batch"),
                        |readings| {
                            let done = rt
                                .block_on(store.append_readings(black_box(&readings)))
                                .expect("append");
                            assert_eq!(done.inserted, batch as u64, "every reading is new");
                        },
                        BatchSize::SmallInput,
                    )
                },
            );
            rt.block_on(store.close());
        }
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
