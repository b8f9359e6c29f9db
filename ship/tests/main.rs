//! ship's one test binary: the real `ship` against moto's S3 server, a
//! fault-injecting proxy and local directories.

mod config_errors;
mod faults;
mod s3;
mod safety;
mod util;
