// No console window on Windows release builds; harmless elsewhere.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// mimalloc, not the system's: a sync bootstrap allocates pages on one thread and frees them on
/// another, which glibc's malloc serialises on its arenas (the sync benchmark: 30–33 µs of CPU
/// per record with it, 21–25 with mimalloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match labdesk_desktop::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("LabDesk could not start: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
