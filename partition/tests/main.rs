//! partition's one test binary: each module drives the real `partition` in
//! a temporary directory and checks every line it prints and every file it
//! leaves.

mod common;

mod correctness;
mod crash;
mod layouts;
mod scale;
mod symlinks;
