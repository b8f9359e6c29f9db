//! Parse throughput of one list page, as fetch processes it: the body is fed
//! to the streaming splitter in network-sized chunks and each conversation's
//! few needed fields (id, last_active_at, messages.has_more) are read with
//! serde. Prints one JSON line per mode.
//!
//!     cargo run --release -p fetch --example parse_page -- PAGE.json [ITERATIONS]

use fetch::splitter::ListSplitter;
use fetch::streams::conversations::conversation_meta;
use std::hint::black_box;
use std::time::Instant;

/// reqwest hands over bodies in chunks of about this size.
const CHUNK: usize = 16 * 1024;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: parse_page PAGE.json [ITERATIONS]"))?;
    let iterations: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let body = std::fs::read(&path)?;
    for mode in ["split", "split+fields"] {
        let with_fields = mode == "split+fields";
        let mut elements = 0u64;
        let start = Instant::now();
        for _ in 0..iterations {
            let mut sp = ListSplitter::new();
            for chunk in body.chunks(CHUNK) {
                sp.feed(chunk, &mut |e| {
                    if with_fields {
                        let m = conversation_meta(&e)?;
                        black_box((m.id, m.last_active_at, m.messages.map(|x| x.has_more)));
                    } else {
                        black_box(e);
                    }
                    elements += 1;
                    Ok(())
                })?;
            }
            black_box(sp.finish()?);
        }
        let secs = start.elapsed().as_secs_f64();
        let mb = body.len() as f64 * f64::from(iterations) / 1e6;
        println!(
            "{}",
            serde_json::json!({
                "mode": mode,
                "page_bytes": body.len(),
                "records_per_page": elements / u64::from(iterations),
                "iterations": iterations,
                "seconds": (secs * 1000.0).round() / 1000.0,
                "mb_per_s": (mb / secs * 10.0).round() / 10.0,
            })
        );
    }
    Ok(())
}
