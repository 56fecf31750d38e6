//! The subcommands. Each opens nothing itself: [`run`] opens the store once, and every command
//! gets a [`Ctx`] with the store, the output and whether to print JSON.

mod cases;
mod chat;
mod check;
mod files;
mod history;
mod import;
mod record_kinds;
mod records;
mod sync;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use labdesk_core::{OpenOptions, Store, STORE_FILE};
use serde::Serialize;

use crate::cli::{Cli, Command};

/// What every command works with.
pub struct Ctx<'a> {
    pub store: Store,
    /// The data folder (the store, and the sign-in token's file).
    pub dir: PathBuf,
    pub json: bool,
    pub out: &'a mut dyn Write,
}

impl Ctx<'_> {
    /// Prints `value` as pretty JSON on its own lines.
    pub fn print_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        serde_json::to_writer_pretty(&mut *self.out, value).context("cannot write the JSON output")?;
        writeln!(self.out)?;
        Ok(())
    }
}

/// The data folder: `--data`/`LABDESK_DATA`, else `$XDG_DATA_HOME/labdesk`, else
/// `~/.local/share/labdesk`.
fn data_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = given.filter(|d| !d.as_os_str().is_empty()) {
        return Ok(dir);
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(xdg.join("labdesk"));
    }
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(home.join(".local").join("share").join("labdesk"));
    }
    bail!("there is no data folder: give --data DIR or set LABDESK_DATA (neither XDG_DATA_HOME nor HOME is set)")
}

/// What to do in a data folder with no store: set one up.
fn no_store(dir: &std::path::Path, dir_given: bool, workstation: Option<&str>, user: Option<&str>) -> String {
    let data = if dir_given { format!(" --data {}", dir.display()) } else { String::new() };
    let code = workstation.map_or_else(|| "CODE".to_owned(), labdesk_core::normalize_workstation_code);
    let name = user.unwrap_or("NAME");
    let mut text = format!(
        "no LabDesk store in {}: set one up with `labdesk{data} init --workstation {code} --user {name}`",
        dir.display()
    );
    if workstation.is_none() {
        text.push_str(" (CODE: this workstation's code, 2 to 8 capitals or digits, e.g. FD1)");
    }
    text
}

pub fn run(cli: Cli, out: &mut dyn Write) -> Result<ExitCode> {
    let global = cli.global;
    let given_dir = global.data.clone().filter(|d| !d.as_os_str().is_empty());
    let dir = data_dir(global.data)?;
    let is_new = !dir.join(STORE_FILE).exists();
    let user = global.user.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    let workstation = global.workstation.map(|w| w.trim().to_owned()).filter(|w| !w.is_empty());
    let init = matches!(cli.command, Command::Init);
    // Only `init` sets a store up: any other command on a folder with none would make one with a
    // random workstation code that a later `init --workstation FD1` could not take back.
    if is_new && !init {
        bail!("{}", no_store(&dir, given_dir.is_some(), workstation.as_deref(), user.as_deref()));
    }
    let store = if init && !is_new {
        // `init` names an existing store that holds nothing yet (see `Store::set_workstation`).
        let mut store = Store::open(&dir, OpenOptions { workstation: None, user: user.clone() })?;
        if let Some(code) = &workstation {
            store.set_workstation(code)?;
        }
        store
    } else {
        Store::open(&dir, OpenOptions { workstation, user: user.clone() })?
    };
    let mut ctx = Ctx { store, dir, json: global.json, out };
    match cli.command {
        Command::Init => cases::init(&mut ctx, user.as_deref(), is_new),
        Command::Create(args) => cases::create(&mut ctx, args),
        Command::Edit(args) => cases::edit(&mut ctx, args),
        Command::Show(args) => cases::show(&mut ctx, &args.case),
        Command::List(args) => cases::list(&mut ctx, args),
        Command::Search(args) => cases::search(&mut ctx, args),
        Command::Delete(args) => cases::delete(&mut ctx, &args.case, true),
        Command::Restore(args) => cases::delete(&mut ctx, &args.case, false),
        Command::Meta(command) => records::meta(&mut ctx, command),
        Command::Chat(command) => chat::run(&mut ctx, command),
        Command::Stage(args) => records::stage(&mut ctx, args),
        Command::Stages(args) => records::stages(&mut ctx, &args.case),
        Command::Note(command) => records::note(&mut ctx, command),
        Command::History(args) => history::history(&mut ctx, args),
        Command::Outbox(args) => history::outbox(&mut ctx, args.limit),
        Command::Check(args) => check::check(&mut ctx, args.quick),
        Command::Import(args) => import::import(&mut ctx, args),
        Command::Login(args) => sync::login(&mut ctx, args),
        Command::Sync(args) => sync::sync(&mut ctx, args.watch),
        Command::Attach(args) => cases::attach(&mut ctx, &args.case, &args.files),
        Command::Fetch(args) => sync::fetch(&mut ctx, &args.case),
        Command::Files(args) => files::list(&mut ctx, &args.case),
        Command::File(command) => files::run(&mut ctx, command),
        Command::Conflicts => sync::conflicts(&mut ctx),
        Command::Resolve(args) => sync::resolve(&mut ctx, args),
        Command::Rejected => sync::rejected(&mut ctx),
        Command::Records(args) => record_kinds::run(&mut ctx, args),
    }
}
