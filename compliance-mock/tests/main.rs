//! compliance-mock's integration tests, one binary: each module drives the
//! real mock over HTTP through `testkit::mock`.

mod common;

mod audit;
mod control;
mod faults;
mod files;
mod hostile;
mod legacy;
mod logs;
