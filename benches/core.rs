//! Criterion benches of the pure core: payload parsing, name extraction, the fold.
//! `cargo bench --bench core`; throughput is reported in observations per second.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mqtt_scan::status::{payload, Observation, Pattern, Registry, Source, Vocabulary};

const N: usize = 100_000;

fn fleet() -> Vec<(String, &'static [u8])> {
    (0..N)
        .map(|i| {
            let payload: &[u8] = match i % 10 {
                0 => b"0",
                1 => br#"{"status":1,"ts":1795255201,"ip":"10.0.0.7","client":"dev"}"#,
                2 => b"online",
                _ => b"1",
            };
            (format!("sensors/connected/dev{i}"), payload)
        })
        .collect()
}

fn registry() -> Registry {
    Registry::new(
        vec![Source::topic(
            Pattern::parse("sensors/connected/#").unwrap(),
        )],
        Vocabulary::default(),
    )
}

fn benches(c: &mut Criterion) {
    let fleet = fleet();
    let now = Utc.timestamp_opt(1_795_255_201, 0).unwrap();

    let mut g = c.benchmark_group("fold");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("snapshot of 100k into an empty table", |b| {
        b.iter_batched(
            registry,
            |mut r| {
                for (topic, payload) in &fleet {
                    r.fold(
                        &Observation {
                            topic,
                            payload,
                            retained: true,
                        },
                        now,
                    );
                }
                r
            },
            BatchSize::LargeInput,
        );
    });
    g.bench_function("100k live updates of a full table", |b| {
        let mut r = registry();
        for (topic, payload) in &fleet {
            r.fold(
                &Observation {
                    topic,
                    payload,
                    retained: true,
                },
                now,
            );
        }
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            let p: &[u8] = if flip { b"0" } else { b"1" };
            for (topic, _) in &fleet {
                black_box(r.fold(
                    &Observation {
                        topic,
                        payload: p,
                        retained: false,
                    },
                    now,
                ));
            }
        });
    });
    g.finish();

    let mut g = c.benchmark_group("parts");
    g.throughput(Throughput::Elements(1));
    let vocab = Vocabulary::default();
    g.bench_function("parse plain payload", |b| {
        b.iter(|| payload::parse(black_box(b"online"), &vocab));
    });
    g.bench_function("parse JSON payload", |b| {
        b.iter(|| {
            payload::parse(
                black_box(br#"{"status":1,"ts":1795255201,"ip":"10.0.0.7"}"#),
                &vocab,
            )
        });
    });
    let hash = Pattern::parse("sensors/connected/#").unwrap();
    let spark = Pattern::parse("spBv1.0/+/NDEATH/+").unwrap();
    g.bench_function("name from sensors/connected/#", |b| {
        b.iter(|| {
            hash.name(black_box("sensors/connected/dev12345"))
                .map(|n| n.len())
        });
    });
    g.bench_function("name from spBv1.0/+/NDEATH/+", |b| {
        b.iter(|| {
            spark
                .name(black_box("spBv1.0/plant/NDEATH/edge-7"))
                .map(|n| n.len())
        });
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    use mqtt_scan::render::{self, table};
    use mqtt_scan::status::SortKey;
    let fleet = fleet();
    let now = Utc.timestamp_opt(1_795_255_201, 0).unwrap();
    let mut r = registry();
    for (topic, payload) in fleet.iter().take(10_000) {
        r.fold(
            &Observation {
                topic,
                payload,
                retained: true,
            },
            now,
        );
    }
    let topics = vec!["sensors/connected/#".to_owned()];
    let scan = || render::Scan {
        broker: "mqtt://localhost:1883",
        topics: &topics,
        scanned_at: now,
        complete: true,
        summary: r.summary(),
        clients: r.rows(SortKey::Name, None),
    };
    let mut g = c.benchmark_group("render 10k rows");
    g.throughput(Throughput::Elements(10_000));
    let mut out = Vec::with_capacity(8 << 20);
    g.bench_function("json", |b| {
        b.iter(|| {
            out.clear();
            render::json::document(&scan(), &mut out).unwrap();
        });
    });
    g.bench_function("jsonl", |b| {
        b.iter(|| {
            out.clear();
            render::json::lines(&scan(), &mut out).unwrap();
        });
    });
    g.bench_function("csv", |b| {
        b.iter(|| {
            out.clear();
            render::csv::write(&scan(), &mut out).unwrap();
        });
    });
    let opts = table::Options {
        color: false,
        now,
        source: false,
        columns: None,
        width: None,
    };
    g.bench_function("table", |b| {
        b.iter(|| {
            out.clear();
            table::write(&scan(), &opts, &mut out).unwrap();
        });
    });
    g.bench_function("sort by name (rows)", |b| {
        b.iter(|| black_box(r.rows(SortKey::Name, None).len()));
    });
    g.finish();
}

criterion_group!(core, benches, render);
criterion_main!(core);
