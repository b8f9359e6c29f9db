//! Open the store(s), run the operation, print its lines.

use crate::config::{Config, Location, Op};
use crate::local::LocalStore;
use crate::ops;
use crate::s3::S3Store;
use crate::store::Store;
use anyhow::{Context, Result};
use archive_core::io::LineOut;
use archive_core::{Failure, Outcome};
use std::io::Write;

async fn open(at: &Location, cfg: &archive_s3::ClientOptions) -> Result<Store> {
    Ok(match at {
        Location::S3(u) => Store::S3(S3Store::connect(u.clone(), cfg).await?),
        Location::Dir(d) => Store::Local(LocalStore::new(d.clone())),
    })
}

pub fn run(cfg: Config) -> Result<Outcome> {
    let rt = archive_s3::client::runtime()?;
    rt.block_on(async move {
        let mut out = LineOut::new();
        let client = &cfg.client;
        match &cfg.op {
            Op::Lease {
                at,
                owner,
                ttl,
                pid,
            } => out.json(&ops::lease(&open(at, client).await?, owner, *ttl, *pid).await?)?,
            Op::Release { at, owner } => {
                out.json(&ops::release(&open(at, client).await?, owner).await?)?
            }
            Op::Pull { at, dir } => {
                let store = open(at, client).await?;
                ops::pull(&store, dir, &mut |v| Ok(out.json(&v)?)).await?
            }
            Op::Push {
                dir,
                at,
                lease,
                owner,
                ttl,
            } => {
                let (lease, store) = (open(lease, client).await?, open(at, client).await?);
                ops::push(&store, &lease, dir, owner, *ttl, &mut |v| Ok(out.json(&v)?)).await?
            }
            Op::Put { at, name, file } => {
                let bytes =
                    std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
                out.json(&ops::put(&open(at, client).await?, name, &bytes).await?)?
            }
            Op::Check { at, read_only } => {
                out.json(&ops::check(&open(at, client).await?, *read_only).await?)?
            }
            Op::Get { at, name } => match open(at, client).await?.get(name).await? {
                Some((bytes, _)) => std::io::stdout().lock().write_all(&bytes)?,
                None => return Err(Failure::data(format!("{name}: no such state record"))),
            },
        }
        out.flush()?;
        Ok(Outcome::Complete)
    })
}
