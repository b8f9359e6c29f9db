//! restore's suite, one test binary: archives built by the real `manifest`
//! and `ship` in moto, read back by the real `restore`, and what it leaves
//! checked by GNU sha256sum, boto3 and DuckDB.

mod fixity;
mod get;
mod prune;
mod query;
mod support;
