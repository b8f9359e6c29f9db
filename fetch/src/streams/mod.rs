//! The streams. Each one describes its listing to the one pagination loop
//! ([`paginate`]), hands records to stdout (or the conversation spool) as
//! the body streams in, and records the bookmark it reached as pending
//! ([`bookmarks`]). This module only dispatches; the streams import their
//! helpers from the sibling modules, never from here.

pub mod audit;
pub mod bookmarks;
pub mod conversations;
pub mod files;
pub mod logs;
pub mod paginate;
pub mod requests;
pub mod snapshot;

use crate::ctx::Ctx;
use crate::model::Stream;
use anyhow::Result;

/// Run one stream to its end.
pub async fn run(ctx: &mut Ctx, stream: &Stream) -> Result<()> {
    match stream {
        Stream::Logs { event_types } => logs::logs(ctx, event_types).await,
        Stream::Conversations => conversations::conversations(ctx).await,
        Stream::Snapshot(name) => snapshot::snapshot(ctx, name).await,
        Stream::AuditLogs(filters) => audit::audit_logs(ctx, filters).await,
        Stream::Files(opts) => files::files(ctx, opts).await,
    }
}
