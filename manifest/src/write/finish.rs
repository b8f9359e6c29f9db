//! One target after the hashing pass: refused, or its entries decided and
//! its manifests written.

use crate::model::{Counts, Failures, Incoming, Target, WriteConfig};
use crate::sign::Signer;
use crate::write::assemble::{self, Assembly};
use crate::write::emit::Done;
use crate::write::output::{self, Job, Previous};
use crate::write::plan::Plan;
use anyhow::Result;
use chrono::{DateTime, Utc};

/// What every target of a run shares.
pub struct Shared<'a> {
    pub cfg: &'a WriteConfig,
    pub signer: Option<&'a Signer>,
    pub now: DateTime<Utc>,
}

pub fn finish_target(
    ti: usize,
    mut plan: Plan,
    target: &Target,
    shared: &Shared,
    incoming: &mut [Incoming],
    failures: &mut Failures,
    counts: &mut Counts,
) -> Result<Done> {
    let mut a = Assembly {
        ti,
        target,
        cfg: shared.cfg,
        incoming,
        failures,
        counts,
    };
    let mut done = Done {
        target: ti,
        written: Vec::new(),
        walked: None,
    };
    if let Some(why) = &plan.refused {
        assemble::refuse(&mut a, why);
        return Ok(done);
    }
    let same_entries = assemble::assemble(&mut a, &mut plan.items);
    if !target.dir.is_dir() {
        // Lines named a root that is not there: each already failed, and
        // nothing is created for them.
        a.failures.other(format!(
            "{}: no such directory; no manifest written there",
            target.dir.display()
        ));
        return Ok(done);
    }
    let (files, bytes) = output::totals(&plan.items);
    a.counts.files += files;
    a.counts.bytes += bytes;
    let job = Job {
        target,
        items: &plan.items,
        cfg: shared.cfg,
        signer: shared.signer,
        now: shared.now,
    };
    let previous = Previous {
        header: plan.previous_header.as_ref(),
        txt_sha: plan.previous_txt_sha,
        same_entries,
    };
    done.written = output::write_target(&job, previous)?;
    for w in &done.written {
        if w.changed {
            a.counts.manifests_written += 1;
        } else {
            a.counts.manifests_unchanged += 1;
        }
    }
    if target.print_all {
        done.walked = Some(plan.items);
    }
    Ok(done)
}
