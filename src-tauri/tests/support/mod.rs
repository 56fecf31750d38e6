//! Support shared by the app tests and the benchmark.
pub mod window;
