//! The phases of each subcommand, in order.

use crate::config::{Config, GetConfig};
use crate::get::{get_one, GetCtx};
use crate::model::GetStatus;
use crate::remote::Remote;
use crate::report::Report;
use crate::{catalog, fixity, prune, query};
use anyhow::{Context, Result};
use archive_core::Outcome;
use futures::StreamExt;

pub fn run(cfg: Config) -> Result<Outcome> {
    if let Config::Query(q) = &cfg {
        let sample = (!archive_core::s3url::S3Url::is_s3(&q.root))
            .then(|| query::local_sample(std::path::Path::new(&q.root)))
            .flatten();
        print!("{}", query::render(q, sample.as_ref()));
        return Ok(Outcome::Complete);
    }
    let rt = archive_s3::client::runtime()?;
    rt.block_on(async move {
        match cfg {
            Config::Get(c) => get(c).await,
            Config::BatchManifest(c) => fixity::write_manifest(c).await,
            Config::BatchReport(c) => fixity::read_report(c).await,
            Config::Prune(c) => prune::run(c).await,
            Config::Query(_) => unreachable!("answered above"),
        }
    })
}

async fn get(c: GetConfig) -> Result<Outcome> {
    let mut report = Report::start("restore get", c.dry_run);
    let result = async {
        let remote = match &c.local {
            Some(dir) => Remote::directory(dir),
            None => Remote::connect(&c.source, &c.s3.client).await?,
        };
        if !c.dry_run {
            std::fs::create_dir_all(&c.dir)
                .with_context(|| format!("creating {}", c.dir.display()))?;
            archive_core::atomic::sweep_stale_temps(&c.dir)?;
        }
        let only = c.only.as_deref().map(catalog::read_only_list).transpose()?;
        let cat = catalog::load(
            &remote,
            &c.source,
            &c.keys,
            only.as_ref(),
            c.missing_ok,
            c.root_manifest,
        )
        .await?;
        let ctx = GetCtx {
            remote: &remote,
            dir: &c.dir,
            tier: c.tier,
            days: c.days,
            dry_run: c.dry_run,
            keys: &c.keys,
        };
        let progress = crate::report::progress(cat.wanted.len() as u64);
        let mut done = futures::stream::iter(cat.wanted.iter())
            .map(|w| get_one(&ctx, w, cat.listed.contains_key(&w.key)))
            .buffer_unordered(c.jobs);
        let mut not_done = 0;
        let mut bytes = 0u64;
        let mut downloaded = std::collections::BTreeSet::new();
        while let Some((status, line)) = done.next().await {
            not_done += u64::from(!status.is_done() && status != GetStatus::Planned);
            if status == GetStatus::Downloaded {
                downloaded.insert(line["path"].as_str().unwrap_or_default().to_string());
            }
            progress.inc(1);
            bytes += line["bytes"].as_u64().unwrap_or(0);
            progress.set_message(indicatif::HumanBytes(bytes).to_string());
            report.line(&line)?;
        }
        progress.finish_and_clear();
        drop(done);
        crate::times::restore_mtimes(&c.dir, &cat.wanted, &downloaded)?;
        report.set("files", cat.wanted.len());
        Ok(crate::report::partial_if(not_done))
    }
    .await;
    report.finish(result, c.s3.summary.as_deref())
}
