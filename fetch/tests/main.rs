//! fetch's integration tests, one binary: the real `fetch` against the
//! real mock over HTTP (and HTTPS), each run bounded in time.

mod support;

mod faults;
mod files;
mod hostile;
mod incremental;
mod leftovers;
mod lifecycle;
mod pacing;
mod streams;
