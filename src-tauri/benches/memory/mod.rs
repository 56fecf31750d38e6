//! What the app's processes cost in memory, per process, from `/proc/<pid>/smaps_rollup`.
//!
//! Vocabulary (all in MiB, printed as MB):
//! - **RSS**: pages resident in this process, shared or not. Summing RSS over the app's
//!   processes counts every shared page (libwebkit2gtk, libgtk, libjavascriptcoregtk, fonts,
//!   ...) once per process that maps it: the app, the web process and the network process all
//!   map WebKit, so an RSS sum overstates what the app costs.
//! - **PSS** (proportional set size): each page divided by the number of processes mapping it.
//!   The PSS sum over the app's processes counts each of their shared pages once (plus a share
//!   of pages they share with other programs, such as libc), so it is the standard figure for
//!   "the memory this app costs" (smem, Android's `dumpsys meminfo`), and the one this bench
//!   compares with the target.
//! - **USS** (unique set size, `Private_Clean + Private_Dirty`): pages only this process has,
//!   i.e. what ending it would free. A lower bound.
//!
//! The processes are found by their environment: the app runs with `LABDESK_DATA=<its data
//! folder>`, and WebKit's helper processes inherit it.

use std::path::Path;

/// The app's processes, by what they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `labdesk-desktop`: Rust, the core and SQLite, GTK, and WebKit's UI-process side.
    App,
    /// `WebKitWebProcess`: the page — DOM, JavaScriptCore (React, the list), layout, painting.
    Web,
    /// `WebKitNetworkProcess`: loading (here only the app's own custom-protocol requests).
    Network,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::App, Role::Web, Role::Network];

    pub fn name(self) -> &'static str {
        match self {
            Role::App => "app (labdesk-desktop)",
            Role::Web => "WebKitWebProcess",
            Role::Network => "WebKitNetworkProcess",
        }
    }

    fn of(program: &str) -> Option<Role> {
        let base = program.rsplit('/').next().unwrap_or(program);
        match base {
            "labdesk-desktop" => Some(Role::App),
            "WebKitWebProcess" => Some(Role::Web),
            "WebKitNetworkProcess" => Some(Role::Network),
            _ => None,
        }
    }
}

/// One process's (or one role's, summed) figures, in MB (MiB).
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    pub rss: f64,
    pub pss: f64,
    pub uss: f64,
    /// PSS of anonymous memory (heaps, JS heap, stacks) ...
    pub pss_anon: f64,
    /// ... and of file-backed pages (libraries' code and data, fonts, the SQLite file if mapped).
    pub pss_file: f64,
    /// How many processes were summed (a second web process would show here).
    pub processes: usize,
}

impl Usage {
    fn add(&mut self, other: &Usage) {
        self.rss += other.rss;
        self.pss += other.pss;
        self.uss += other.uss;
        self.pss_anon += other.pss_anon;
        self.pss_file += other.pss_file;
        self.processes += other.processes;
    }

    fn read(pid: u32) -> Option<Usage> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
        let field = |name: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        Some(Usage {
            rss: field("Rss"),
            pss: field("Pss"),
            uss: field("Private_Clean") + field("Private_Dirty"),
            pss_anon: field("Pss_Anon"),
            pss_file: field("Pss_File"),
            processes: 1,
        })
    }
}

/// The figures of each of the app's processes at one moment.
#[derive(Debug, Default, Clone, Copy)]
pub struct Memory {
    pub by_role: [Usage; 3],
}

impl Memory {
    /// Reads the processes of the app whose data folder is `data`.
    pub fn of_app(data: &Path) -> Memory {
        let marker = format!("LABDESK_DATA={}", data.display());
        let mut memory = Memory::default();
        let Ok(entries) = std::fs::read_dir("/proc") else { return memory };
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let program = String::from_utf8_lossy(cmdline.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
            let Some(role) = Role::of(&program) else { continue };
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            if !environ.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
                continue;
            }
            if let Some(usage) = Usage::read(pid) {
                memory.by_role[role as usize].add(&usage);
            }
        }
        memory
    }

    pub fn get(&self, role: Role) -> Usage {
        self.by_role[role as usize]
    }

    /// All the app's processes together.
    pub fn total(&self) -> Usage {
        let mut total = Usage::default();
        for usage in &self.by_role {
            total.add(usage);
        }
        total
    }
}
