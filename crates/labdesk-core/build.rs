//! The client migrations are embedded by refinery's macro, which cargo does not know reads
//! `migrations/client`: without this, a new migration file would not rebuild the crate and an
//! incremental build (CI keeps its target folder) would silently ship the old schema.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations/client");
}
