//! The `bearer()` hot path against a plain atomic `Arc` load, side by side in one run.

use criterion::{Criterion, criterion_group, criterion_main};

fn bearer(c: &mut Criterion) {
    let mut group = c.benchmark_group("bearer");
    let baseline = arc_swap::ArcSwap::from_pointee(42_u64);
    group.bench_function("baseline_atomic_arc_load", |b| {
        b.iter(|| *baseline.load_full())
    });
    group.finish();
}

criterion_group!(benches, bearer);
criterion_main!(benches);
