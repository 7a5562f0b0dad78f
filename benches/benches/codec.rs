//! The wire decoder: one reading, and a backlog array.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use praan_benches::{READING, TOPIC, backlog, received_at};
use praan_core::codec::Codec;
use std::hint::black_box;

fn decode(c: &mut Criterion) {
    let codec = Codec::default();
    let at = received_at();
    let mut group = c.benchmark_group("codec_decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("reading", |b| {
        b.iter(|| codec.decode(black_box(TOPIC), black_box(READING), at))
    });
    let batch = backlog(100);
    group.throughput(Throughput::Elements(100));
    group.bench_function("backlog_100", |b| {
        b.iter(|| codec.decode(black_box(TOPIC), black_box(&batch), at))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
