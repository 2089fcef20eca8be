//! The codec floor: single-thread CPU to snappy-decode, protobuf-decode,
//! protobuf-encode and snappy-compress the same bodies the load generator
//! pushes, with `pushtail_proto`'s own codecs. An agent cannot forward a
//! line for less than this; the harness reports the agent as a multiple.
//!
//! Each phase repeats over all bodies until its time budget is spent and is
//! timed with the thread's own CPU clock. Label parsing and the model
//! conversion between decode and encode are outside the timed sections.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use pushtail_proto::encoding::{snappy_compress_into, snappy_decode_limited};
use pushtail_proto::model::Stream;
use pushtail_proto::push::{decode_push_proto, DecodedPush};

use super::bodies::Bodies;
use super::procfs::thread_cpu_ns;
use super::report::Floor;

const LIMIT: usize = 1 << 30;

/// CPU seconds of one call of `f`, by the thread clock (wall clock if the
/// thread clock is unavailable).
fn cpu_of(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let (c0, w0) = (thread_cpu_ns(), Instant::now());
    f()?;
    Ok(match (c0, thread_cpu_ns()) {
        (Some(a), Some(b)) => (b.saturating_sub(a)) as f64 / 1e9,
        _ => w0.elapsed().as_secs_f64(),
    })
}

/// Repeats `round` (one pass over all bodies) until `budget` of wall time
/// is spent; returns CPU seconds per million lines.
fn phase(
    budget: Duration,
    lines_per_round: u64,
    mut round: impl FnMut() -> Result<()>,
) -> Result<f64> {
    round()?; // warm caches and allocator
    let start = Instant::now();
    let mut rounds = 0u64;
    let cpu = cpu_of(|| {
        while rounds == 0 || start.elapsed() < budget {
            round()?;
            rounds += 1;
        }
        Ok(())
    })?;
    Ok(cpu / (rounds * lines_per_round) as f64 * 1e6)
}

fn to_streams(push: DecodedPush) -> Result<Vec<Stream>> {
    push.streams
        .into_iter()
        .map(|s| {
            Ok(Stream {
                labels: s.labels.parse().context("bench body labels")?,
                entries: s.entries,
            })
        })
        .collect()
}

/// Measures the floor on protobuf `bodies`, spending about `budget` per phase.
pub fn measure(bodies: &Bodies, budget: Duration) -> Result<Floor> {
    let compressed: &[Bytes] = &bodies.bodies;
    let lines = bodies.lines_per_body * compressed.len() as u64;

    let plain: Vec<Bytes> = compressed
        .iter()
        .map(|b| snappy_decode_limited(b, LIMIT))
        .collect::<Result<_, _>>()?;
    let streams: Vec<Vec<Stream>> = plain
        .iter()
        .map(|b| to_streams(decode_push_proto(b.clone())?))
        .collect::<Result<_>>()?;

    let snappy_decode = phase(budget, lines, || {
        for b in compressed {
            black_box(snappy_decode_limited(black_box(b), LIMIT)?);
        }
        Ok(())
    })?;
    let proto_decode = phase(budget, lines, || {
        for b in &plain {
            black_box(decode_push_proto(black_box(b.clone()))?);
        }
        Ok(())
    })?;
    let mut out = Vec::new();
    let proto_encode = phase(budget, lines, || {
        for s in &streams {
            pushtail_proto::push::encode_push_proto(black_box(s), &mut out);
            black_box(&out);
        }
        Ok(())
    })?;
    let mut enc = snap::raw::Encoder::new();
    let mut packed = Vec::new();
    let snappy_encode_cost = phase(budget, lines, || {
        for b in &plain {
            black_box(snappy_compress_into(black_box(b), &mut enc, &mut packed)?);
        }
        Ok(())
    })?;
    Ok(Floor {
        snappy_decode,
        proto_decode,
        proto_encode,
        snappy_encode: snappy_encode_cost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::bodies::{build, Format, Shape};

    #[test]
    fn floor_phases_all_cost_something() {
        let shape = Shape {
            streams: 2,
            lines: 20,
            line_bytes: 40,
            distinct_streams: 2,
            structured_metadata: true,
        };
        let bodies = build(Format::Proto, &shape, 1).unwrap();
        let f = measure(&bodies, Duration::from_millis(5)).unwrap();
        assert!(f.snappy_decode > 0.0 && f.proto_decode > 0.0, "{f:?}");
        assert!(f.proto_encode > 0.0 && f.snappy_encode > 0.0, "{f:?}");
    }

    #[test]
    fn re_encoding_gives_back_the_same_entries() {
        let shape = Shape {
            streams: 3,
            lines: 30,
            line_bytes: 40,
            distinct_streams: 3,
            structured_metadata: true,
        };
        let bodies = build(Format::Proto, &shape, 1).unwrap();
        let plain = snappy_decode_limited(&bodies.bodies[0], LIMIT).unwrap();
        let streams = to_streams(decode_push_proto(plain).unwrap()).unwrap();
        let mut out = Vec::new();
        pushtail_proto::push::encode_push_proto(&streams, &mut out);
        let again = to_streams(decode_push_proto(Bytes::from(out)).unwrap()).unwrap();
        assert_eq!(again, streams);
    }
}
