//! End-to-end sync tests live in `tests/`; this library is empty.
