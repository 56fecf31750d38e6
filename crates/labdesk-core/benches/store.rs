//! The local case store at lab scale, on demand (not a timed test, not a micro-benchmark).
//!
//! Generates a lab's worth of synthetic cases and chat (default 100,000 cases and 1,000,000
//! messages), imports them through the real path (`Store::import_batch`) and measures what a
//! person at the lab feels: the bulk import rate, case-list pages, full-text search, opening a
//! case, saving one edit, and the size of the store on disk. Every figure is printed beside a raw
//! baseline measured in the same run: plain SQLite tables with the same columns and indexes,
//! holding the very same rows, without revisions, outbox or index triggers. The difference
//! between the two columns is what LabDesk's bookkeeping costs.
//!
//! Run:   cargo bench -p labdesk-core --bench store [-- --cases N --messages N --seed N --keep]
//! Env:   LABDESK_BENCH_CASES, LABDESK_BENCH_MESSAGES, LABDESK_BENCH_SEED, LABDESK_BENCH_KEEP
//!        (arguments win). `--keep` leaves the two database files behind for inspection.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use labdesk_core::{
    CaseQuery, ImportCase, ImportReport, NewMessage, OpenOptions, RecordKind, Store, Timestamp, CLOSED_STATUSES,
    STORE_FILE, SUGGESTED_PRIORITIES, SUGGESTED_STATUSES,
};
use labdesk_proto::SEARCH_TAGS;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, TransactionBehavior};
use serde_json::{json, Map, Value};

/// Cases per import transaction, on both sides.
const BATCH_CASES: usize = 1000;
/// The deep-page offset asked for (smaller when there are fewer cases).
const DEEP_OFFSET: u32 = 50_000;
/// Page size of the list, as the UI asks (`CaseQuery::default().limit`).
const PAGE: u32 = 50;
/// Single edits timed, one transaction each.
const EDITS: usize = 500;

/// Query timing: warm-up runs, then at least MIN_RUNS and at most MAX_RUNS, stopping early once
/// RUN_BUDGET has passed so that a slow baseline query cannot stretch the run to hours.
const WARMUP_RUNS: usize = 5;
const MIN_RUNS: usize = 20;
const MAX_RUNS: usize = 300;
const RUN_BUDGET: Duration = Duration::from_secs(4);

/// The targets, judged on p95 (what a person notices is the slow tail, not the median).
const LIST_TARGET_MS: f64 = 5.0;
const SEARCH_TARGET_MS: f64 = 20.0;

/// Search words: a surname from `LAST_NAMES`, a word in about three messages in ten, and a word
/// from `RARE_WORDS` (about one message in 10,000).
const SEARCH_SURNAME: &str = "Novak";
const SEARCH_COMMON: &str = "shade";
const SEARCH_RARE: &str = "bruxism";

fn main() -> Result<()> {
    let config = Config::from_args_and_env()?;
    print_header(&config);

    let dir = tempfile::Builder::new().prefix("labdesk-bench-").tempdir().context("creating a temp dir")?;
    let mut store =
        Store::open(dir.path(), OpenOptions { workstation: Some("BN1".into()), user: Some("bench".into()) })
            .context("opening the LabDesk store")?;
    let baseline_path = dir.path().join("baseline.sqlite3");
    println!("Files: {} ({STORE_FILE} and baseline.sqlite3)", dir.path().display());
    println!();

    let mut data = Generator::new(&config);
    let imported = import_labdesk(&mut store, &mut data, &config)?;
    println!("[2/5] Raw baseline: the same rows, plain prepared INSERTs, same batches …");
    let mut baseline = Baseline::create(&baseline_path, store.connection())?;
    let base_import = baseline.import_from(store.connection(), &imported.marks)?;
    print_import(&imported, &base_import);

    let sizes = measure_sizes(&store, &baseline)?;
    print_sizes(&sizes, imported.records());

    let queries = run_queries(&store, &baseline, &imported, &data)?;
    let edits = run_edits(&mut store, &baseline, &imported, config.seed)?;

    print_summary(&imported, &base_import, &queries, &edits, &sizes);
    if config.keep {
        drop((store, baseline));
        println!("Kept the files in {}", dir.keep().display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Options

#[derive(Debug, Clone)]
struct Config {
    cases: usize,
    messages: usize,
    seed: u64,
    /// Leave both database files behind for inspection (`--keep`).
    keep: bool,
}

impl Config {
    /// Defaults, overridden by the environment, overridden by arguments. Arguments this bench
    /// does not know (cargo passes `--bench`) are ignored.
    fn from_args_and_env() -> Result<Self> {
        let mut cases = env_number("LABDESK_BENCH_CASES")?.unwrap_or(100_000);
        let mut messages = env_number("LABDESK_BENCH_MESSAGES")?.unwrap_or(1_000_000);
        let mut seed = env_number("LABDESK_BENCH_SEED")?.unwrap_or(42);
        let mut keep = std::env::var_os("LABDESK_BENCH_KEEP").is_some();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--keep" {
                keep = true;
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (arg.clone(), None),
            };
            let slot = match name.as_str() {
                "--cases" => &mut cases,
                "--messages" => &mut messages,
                "--seed" => &mut seed,
                _ => continue,
            };
            let value = match inline {
                Some(value) => value,
                None => args.next().with_context(|| format!("{name} needs a number after it"))?,
            };
            *slot = parse_number(&value).with_context(|| format!("{name} {value}"))?;
        }
        ensure!(cases >= 1, "--cases must be at least 1");
        Ok(Self {
            cases: usize::try_from(cases).context("--cases is too large")?,
            messages: usize::try_from(messages).context("--messages is too large")?,
            seed,
            keep,
        })
    }
}

fn env_number(name: &str) -> Result<Option<u64>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(parse_number(&value).with_context(|| format!("{name}={value}"))?)),
        Err(_) => Ok(None),
    }
}

/// A count as people write it: `100000`, `100_000` or `100,000`.
fn parse_number(text: &str) -> Result<u64> {
    let digits: String = text.trim().chars().filter(|c| !matches!(c, '_' | ',')).collect();
    digits.parse().with_context(|| format!("'{text}' is not a whole number"))
}

fn print_header(config: &Config) {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    println!("LabDesk local store benchmark");
    println!("=============================");
    println!("Measures, LabDesk (labdesk-core Store) beside a raw SQLite baseline of the same rows, same run:");
    println!("  1. bulk import rate through Store::import_batch (records/s) and wall time");
    println!("  2. case-list pages and full-text search (median and p95 in ms; targets ≤ {LIST_TARGET_MS} ms and ≤ {SEARCH_TARGET_MS} ms)");
    println!("  3. opening a case (Store::case_detail)");
    println!("  4. a single edit: row + revision + outbox + index triggers, one fsynced transaction");
    println!("  5. store size on disk");
    println!(
        "Scale: {} cases, {} chat messages (~{:.1} per case), seed {}, import batches of {} cases",
        thousands(config.cases as u64),
        thousands(config.messages as u64),
        config.messages as f64 / config.cases as f64,
        config.seed,
        thousands(BATCH_CASES as u64)
    );
    println!(
        "Machine: {cpus} CPU(s), load average {}; SQLite {}; both files WAL + synchronous=FULL on the temp dir's disk",
        load_average(),
        rusqlite::version()
    );
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews every figure here.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".to_owned(), |text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

// ---------------------------------------------------------------------------------------------
// Synthetic data

const FIRST_NAMES: &[&str] = &[
    "Anna", "Maria", "Elena", "Sofia", "Laura", "Julia", "Clara", "Emma", "Lucia", "Marta", "Eva", "Hana", "Ines",
    "Nora", "Olivia", "Paula", "Rosa", "Sara", "Tereza", "Vera", "Alice", "Beatrice", "Camille", "Diana", "Greta",
    "Helena", "Irene", "Jana", "Katarina", "Lena", "Peter", "Jan", "Thomas", "Martin", "Lukas", "David", "Jakub",
    "Tomas", "Michael", "Andreas", "Marco", "Luca", "Pablo", "Javier", "Hugo", "Louis", "Felix", "Max", "Paul",
    "Simon", "Stefan", "Daniel", "Filip", "Ivan", "Oskar", "Viktor", "Adam", "Emil", "Karel", "Rafael",
];

const LAST_NAMES: &[&str] = &[
    "Novak",
    "Svoboda",
    "Dvorak",
    "Cerny",
    "Prochazka",
    "Kucera",
    "Vesely",
    "Horak",
    "Nemec",
    "Pokorny",
    "Marek",
    "Pospisil",
    "Hajek",
    "Jelinek",
    "Kral",
    "Ruzicka",
    "Benes",
    "Fiala",
    "Sedlacek",
    "Dolezal",
    "Zeman",
    "Kolar",
    "Navratil",
    "Cermak",
    "Urban",
    "Vanek",
    "Blazek",
    "Kriz",
    "Kovar",
    "Bartos",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schroeder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Hartmann",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Garcia",
    "Martinez",
    "Lopez",
    "Sanchez",
    "Perez",
    "Gomez",
    "Fernandez",
    "Moreno",
    "Jimenez",
    "Ruiz",
    "Dubois",
    "Lefebvre",
    "Laurent",
    "Moreau",
    "Girard",
    "Kowalski",
    "Nowak",
    "Wisniewski",
    "Lewandowski",
    "Kaminski",
];

/// The lab's technicians: who cases are assigned to.
const TECHNICIANS: &[&str] = &[
    "marta", "tomas", "jana", "petr", "lukas", "eva", "hana", "jakub", "karel", "lenka", "ondrej", "pavla", "radek",
    "simona", "vojta", "zuzana", "adela", "bohdan", "dana", "filip", "gabriela", "ivo", "jiri", "klara", "libor",
    "monika", "nikola", "olga", "roman", "tereza",
];

/// Service types with their sub-services.
const SERVICES: &[(&str, &[&str])] = &[
    ("crown", &["zirconia", "emax", "pfm", "full gold", "layered zirconia", "monolithic"]),
    ("bridge", &["3-unit", "4-unit", "maryland", "zirconia", "pfm"]),
    ("implant", &["custom abutment", "screw-retained crown", "surgical guide", "titanium base", "bar"]),
    ("veneer", &["emax", "feldspathic", "prep guide", "mock-up"]),
    ("denture", &["full upper", "full lower", "partial", "cast partial", "reline", "repair"]),
    ("aligner", &["upper", "lower", "refinement", "retainer"]),
    ("inlay", &["emax", "gold", "composite"]),
    ("onlay", &["emax", "zirconia"]),
    ("night guard", &["hard", "soft", "dual laminate"]),
];

const EXTRAS: &[&str] = &[
    "shade match",
    "photos",
    "wax-up",
    "digital design",
    "try-in",
    "glaze",
    "custom stain",
    "model",
    "rush",
    "3d print",
];

const SHADES: &[&str] = &["A1", "A2", "A3", "A3.5", "B1", "B2", "B3", "C1", "C2", "D2", "BL1", "BL2"];
const MATERIALS: &[&str] = &["zirconia", "emax", "pfm", "gold", "pmma", "composite"];
const DAYS: &[&str] = &["monday", "tuesday", "wednesday", "thursday", "friday", "tomorrow", "next week"];

const ORDER_NOTES: &[&str] = &[
    "Please match shade {shade} to the adjacent teeth.",
    "Patient prefers a natural, slightly translucent look.",
    "Opposing model and bite registration included.",
    "Digital scan via the portal, no physical impression.",
    "Check the occlusion on {tooth} carefully.",
    "Patient travels abroad next week, please prioritise.",
    "Screw-retained if possible, otherwise cemented.",
    "Previous crown on {tooth} fractured after two years.",
    "Use the provisional as the reference for shape and length.",
    "Light occlusal contact only, patient grinds at night.",
    "Send the try-in first, final after approval.",
    "Material {material} requested by the doctor.",
];

/// Chat lines of a lab's working day. Slots: {tooth} {shade} {tech} {day} {material} {n}.
const CHAT_LINES: &[&str] = &[
    "Margin on {tooth} looks short, can you check the scan before milling?",
    "Shade {shade} confirmed by the patient, please proceed.",
    "Please send photos of the prep on {tooth} with the shade tab.",
    "Contacts on {tooth} were too tight at try-in, please adjust.",
    "Design is ready for review, {tech} will mill it {day}.",
    "Can we move the delivery to {day}? The patient rescheduled.",
    "Occlusion is heavy on {tooth}, please reduce before glazing.",
    "New impression sent by courier, the old one was distorted.",
    "Bite registration is missing, please ask the clinic for it.",
    "The {material} coping for {tooth} is in the furnace now.",
    "Implant abutment arrived, torque spec is {n} Ncm.",
    "The shade photo is too dark, can you retake it in daylight?",
    "Emergence profile on {tooth} needs to be more convex.",
    "Try-in went well, finishing {day}.",
    "Doctor asked for a slightly lighter shade than {shade}.",
    "Scan uploaded to the portal, check the margins on {tooth}.",
    "Crown seated, the patient is happy with the fit.",
    "Bridge framework goes out for try-in {day}.",
    "Please add a custom stain on the incisal edge.",
    "Veneer prep guide printed, sending it with the models.",
    "Denture teeth set up in wax, ready for the try-in {day}.",
    "Aligner stage {n} printed and trimmed.",
    "Invoice sent to the clinic.",
    "Courier picks up at four {day}.",
    "Which material for {tooth}, {material} or emax?",
    "Thanks, received.",
    "Called the clinic, waiting for an answer.",
    "Remake needed on {tooth}, the margin is open.",
    "{tech} is out {day}, someone else please take the milling.",
    "Model is cracked, we need a new pour.",
];

/// Clinical words that come up rarely: each is in about one message in 10,000.
const RARE_WORDS: &[&str] = &[
    "bruxism",
    "fluorosis",
    "ankylosis",
    "hypodontia",
    "microdontia",
    "taurodontism",
    "hypercementosis",
    "xerostomia",
    "periimplantitis",
    "apicoectomy",
];
const RARE_MESSAGE_SHARE: f64 = 0.001;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Deterministic synthetic lab data: the same seed and day give the same cases and messages.
#[derive(Debug)]
struct Generator {
    rng: StdRng,
    /// Midnight UTC today: due dates are spread over the half year before and after it.
    today_ms: i64,
    /// How many messages each case gets; varies from case to case, sums to the messages asked.
    chat_counts: Vec<u32>,
    dentists: Vec<String>,
}

impl Generator {
    fn new(config: &Config) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        // Chat is uneven in a real lab: most cases get a few messages, some get a long thread.
        // A third of the messages go to every tenth case.
        let mut chat_counts = vec![0u32; config.cases];
        let hot_cases = config.cases.div_ceil(10);
        for _ in 0..config.messages {
            let case = if rng.random_bool(0.3) {
                rng.random_range(0..hot_cases) * 10
            } else {
                rng.random_range(0..config.cases)
            };
            chat_counts[case] += 1;
        }
        let dentists =
            (0..150).map(|_| format!("Dr. {} {}", pick(&mut rng, FIRST_NAMES), pick(&mut rng, LAST_NAMES))).collect();
        let now = chrono::Utc::now().timestamp_millis();
        Self { rng, today_ms: now - now.rem_euclid(DAY_MS), chat_counts, dentists }
    }

    /// Case `index` (0-based) with its meta and chat, as an import item.
    fn case(&mut self, index: usize) -> ImportCase {
        let rng = &mut self.rng;
        let due_ms = self.today_ms + rng.random_range(-182..=182) * DAY_MS + rng.random_range(8..18) * 3_600_000;
        let start_ms = due_ms - rng.random_range(2..21) * DAY_MS;
        let assignee_count = *[0usize, 1, 1, 1, 2, 2, 3].choose(rng).unwrap_or(&1);
        let note_sentences = rng.random_range(1..=2);
        let mut fields = Map::new();
        fields.insert("patient_name".into(), format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)).into());
        fields.insert("status".into(), status(rng, due_ms < self.today_ms).into());
        fields.insert("priority".into(), priority(rng).into());
        fields.insert("start_date".into(), timestamp(start_ms).into());
        fields.insert("due_date".into(), timestamp(due_ms).into());
        fields.insert("assignees".into(), json!(TECHNICIANS.choose_multiple(rng, assignee_count).collect::<Vec<_>>()));
        fields.insert("services".into(), services(rng));
        fields.insert(
            "order_note".into(),
            (0..note_sentences).map(|_| fill(rng, ORDER_NOTES)).collect::<Vec<_>>().join(" ").into(),
        );
        fields.insert(
            "author_info".into(),
            json!({
                "name": self.dentists.choose(rng).cloned().unwrap_or_default(),
                "phone": format!("+420 2{:08}", rng.random_range(0..100_000_000)),
            }),
        );
        if rng.random_bool(0.5) {
            fields.insert("invoice_ids".into(), json!([format!("INV-{:06}", index + 1)]));
        }
        let mut meta = BTreeMap::new();
        meta.insert("patient_age".to_owned(), rng.random_range(18..=90).to_string());
        meta.insert("shade".to_owned(), pick(rng, SHADES).to_owned());
        if rng.random_bool(0.3) {
            meta.insert("shipping_estimate_date".to_owned(), timestamp(due_ms - DAY_MS)[..10].to_owned());
        }
        let chat = (0..self.chat_counts[index]).map(|_| NewMessage::text(&self.message())).collect();
        ImportCase { fields, meta, notes: Vec::new(), chat }
    }

    /// One chat message: a line or two of lab talk, now and then with a rare clinical word.
    fn message(&mut self) -> String {
        let rng = &mut self.rng;
        let mut text = fill(rng, CHAT_LINES);
        if rng.random_bool(0.4) {
            text.push(' ');
            text.push_str(&fill(rng, CHAT_LINES));
        }
        if rng.random_bool(RARE_MESSAGE_SHARE) {
            let _ = write!(text, " Note: the patient has {}.", pick(rng, RARE_WORDS));
        }
        text
    }

    /// The index of a case with about the average number of messages, for the case-detail timing.
    fn typical_chat_case(&self) -> usize {
        let total: u64 = self.chat_counts.iter().map(|&c| u64::from(c)).sum();
        let average = (total as f64 / self.chat_counts.len() as f64).round() as i64;
        (0..self.chat_counts.len()).min_by_key(|&i| (i64::from(self.chat_counts[i]) - average).abs()).unwrap_or(0)
    }
}

/// A status that fits the due date: nine in ten cases past due are closed (almost all delivered,
/// a few cancelled); the rest, and every case due later, are at some open stage.
fn status(rng: &mut StdRng, past_due: bool) -> &'static str {
    if past_due && rng.random_bool(0.9) {
        CLOSED_STATUSES.choose_weighted(rng, |s| if *s == "delivered" { 19 } else { 1 }).map_or("delivered", |s| *s)
    } else {
        let open: Vec<&'static str> =
            SUGGESTED_STATUSES.iter().copied().filter(|s| !CLOSED_STATUSES.contains(s)).collect();
        pick(rng, &open)
    }
}

/// Mostly medium, rarely an emergency.
fn priority(rng: &mut StdRng) -> &'static str {
    SUGGESTED_PRIORITIES
        .choose_weighted(rng, |p| match *p {
            "medium" => 50,
            "low" | "high" => 20,
            "rush" => 8,
            _ => 2,
        })
        .map_or(labdesk_core::DEFAULT_PRIORITY, |p| *p)
}

/// One to three different services, each with a sub-service or two and up to two extras.
fn services(rng: &mut StdRng) -> Value {
    let count = rng.random_range(1..=3);
    let chosen: Vec<&(&str, &[&str])> = SERVICES.choose_multiple(rng, count).collect();
    chosen
        .into_iter()
        .map(|(service_type, subs)| {
            let sub_count = rng.random_range(1..=2);
            let extra_count = rng.random_range(0..=2);
            json!({
                "service_type": service_type,
                "sub_services": subs.choose_multiple(rng, sub_count).collect::<Vec<_>>(),
                "extras": EXTRAS.choose_multiple(rng, extra_count).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

/// One of `templates`, its slots filled with random teeth, shades, technicians, days and materials.
fn fill(rng: &mut StdRng, templates: &[&str]) -> String {
    let mut out = pick(rng, templates).to_owned();
    if out.contains("{tooth}") {
        let tooth = format!("{}{}", rng.random_range(1..=4), rng.random_range(1..=8));
        out = out.replace("{tooth}", &tooth);
    }
    for (slot, values) in [("{shade}", SHADES), ("{tech}", TECHNICIANS), ("{day}", DAYS), ("{material}", MATERIALS)] {
        if out.contains(slot) {
            out = out.replace(slot, pick(rng, values));
        }
    }
    if out.contains("{n}") {
        out = out.replace("{n}", &rng.random_range(10..=35).to_string());
    }
    out
}

fn timestamp(millis: i64) -> String {
    Timestamp::from_millis(millis).map_or_else(String::new, |t| t.to_string())
}

// ---------------------------------------------------------------------------------------------
// LabDesk import

/// The kinds whose tables the baseline copies, with their documents in the store's search index
/// (a document's rowid is the record's seq * SEARCH_TAGS + the kind's declared search tag).
const COPIED_KINDS: [RecordKind; 3] = [RecordKind::Case, RecordKind::CaseMeta, RecordKind::ChatMessage];

/// (table, search tag) of each of `COPIED_KINDS`.
fn copied_tables() -> Vec<(&'static str, i64)> {
    COPIED_KINDS.iter().map(|k| (k.decl().table, k.decl().search.map_or(0, |s| i64::from(s.tag)))).collect()
}

/// The highest `seq` of each of `COPIED_KINDS`' tables after an import batch: batch i of the baseline
/// copies exactly the rows between mark i-1 and mark i, so both sides get the same rows per
/// transaction.
#[derive(Debug, Clone, Copy, Default)]
struct SeqMark([i64; 3]);

impl SeqMark {
    fn read(conn: &Connection) -> Result<Self> {
        let mut mark = [0; 3];
        for (slot, (table, _)) in mark.iter_mut().zip(copied_tables()) {
            *slot = conn.query_row(&format!("SELECT coalesce(max(seq), 0) FROM {table}"), [], |r| r.get(0))?;
        }
        Ok(Self(mark))
    }
}

#[derive(Debug)]
struct LabDeskImport {
    report: ImportReport,
    meta: u64,
    chat: u64,
    /// Time inside `Store::import_batch` only.
    in_store: Duration,
    /// Time spent making up the data, not counted in the rate.
    generating: Duration,
    marks: Vec<SeqMark>,
}

impl LabDeskImport {
    fn records(&self) -> u64 {
        self.report.records
    }
}

fn import_labdesk(store: &mut Store, data: &mut Generator, config: &Config) -> Result<LabDeskImport> {
    println!("[1/5] Importing through Store::import_batch ({} cases a batch, one transaction each) …", BATCH_CASES);
    let mut out = LabDeskImport {
        report: ImportReport::default(),
        meta: 0,
        chat: 0,
        in_store: Duration::ZERO,
        generating: Duration::ZERO,
        marks: Vec::new(),
    };
    let batches = config.cases.div_ceil(BATCH_CASES);
    for batch in 0..batches {
        let range = batch * BATCH_CASES..((batch + 1) * BATCH_CASES).min(config.cases);
        let started = Instant::now();
        let items: Vec<(usize, std::result::Result<ImportCase, String>)> = range
            .map(|i| {
                let case = data.case(i);
                out.meta += case.meta.len() as u64;
                out.chat += case.chat.len() as u64;
                (i + 1, Ok(case))
            })
            .collect();
        out.generating += started.elapsed();
        let started = Instant::now();
        store.import_batch(items, &mut out.report).with_context(|| format!("import batch {}", batch + 1))?;
        out.in_store += started.elapsed();
        out.marks.push(SeqMark::read(store.connection())?);
        if let Some(skipped) = out.report.skipped.first() {
            bail!("the generator made a case LabDesk refused (item {}): {}", skipped.line, skipped.reason);
        }
        if (batch + 1) % (batches / 10).max(1) == 0 || batch + 1 == batches {
            eprintln!(
                "      … {:>9} / {} cases, {:>8} records/s so far",
                thousands(out.report.imported),
                thousands(config.cases as u64),
                thousands(rate(out.report.records, out.in_store) as u64)
            );
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Raw baseline

/// A plain SQLite file holding the same rows with the same columns and indexes, plus a plain
/// FTS5 table over the same texts.
#[derive(Debug)]
struct Baseline {
    conn: Connection,
    /// The column list of each of `COPIED_KINDS`' tables, as in the store.
    columns: Vec<String>,
}

#[derive(Debug, Default)]
struct BaselineImport {
    rows: u64,
    rows_time: Duration,
    documents: u64,
    fts_time: Duration,
}

impl Baseline {
    fn create(path: &Path, store: &Connection) -> Result<Self> {
        let conn = Connection::open(path).with_context(|| format!("creating {}", path.display()))?;
        // The same settings the store opens with (db.rs): WAL, and a commit is on disk.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The tables and indexes are copied from the store's own schema, so the baseline has
        // exactly its columns, constraints and indexes, and follows future migrations. Triggers
        // are left out: they are what LabDesk adds.
        let tables: Vec<String> = copied_tables().iter().map(|(table, _)| format!("'{table}'")).collect();
        let mut ddl = store.prepare(&format!(
            "SELECT sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL \
             AND tbl_name IN ({}) ORDER BY type DESC, rowid",
            tables.join(", ")
        ))?;
        let statements: Vec<String> = ddl.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        for sql in &statements {
            conn.execute_batch(sql).with_context(|| format!("baseline schema: {sql}"))?;
        }
        let indexes = statements.iter().filter(|sql| sql.starts_with("CREATE INDEX")).count();
        println!(
            "      baseline schema: cases, case_meta, chat_messages with their {indexes} indexes (+ unique keys), \
             copied from the store; no triggers"
        );
        // The same tokenizer and prefix indexes as the store's search_index (V2), so the search
        // comparison is of the same index, not of two index designs.
        conn.execute_batch(
            "CREATE VIRTUAL TABLE search_docs USING fts5 (case_id UNINDEXED, body, \
             tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');",
        )?;
        let mut columns = Vec::new();
        for (table, _) in copied_tables() {
            let mut stmt = store.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
            let names: Vec<String> = stmt.query_map([table], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            columns.push(names.join(", "));
        }
        Ok(Self { conn, columns })
    }

    /// Copies the store's rows batch by batch (the same batches as its import) with prepared
    /// INSERTs, rows in one transaction and full-text documents in another, each timed alone.
    /// Reading the rows out of the store is not timed.
    fn import_from(&mut self, store: &Connection, marks: &[SeqMark]) -> Result<BaselineImport> {
        let mut out = BaselineImport::default();
        let mut previous = SeqMark::default();
        for mark in marks {
            let mut tables = Vec::with_capacity(COPIED_KINDS.len());
            // The store's own search documents, so the baseline indexes the very same texts.
            let mut documents = Vec::new();
            for (i, ((table, tag), columns)) in copied_tables().iter().zip(&self.columns).enumerate() {
                let (low, high) = (previous.0[i], mark.0[i]);
                let rows = read_rows(
                    store,
                    &format!("SELECT {columns} FROM {table} WHERE seq > ?1 AND seq <= ?2 ORDER BY seq"),
                    low,
                    high,
                )?;
                tables.push((*table, columns.as_str(), rows));
                documents.extend(read_rows(
                    store,
                    &format!(
                        "SELECT rowid, case_id, body FROM search_index \
                         WHERE rowid >= (?1 + 1) * {SEARCH_TAGS} AND rowid < (?2 + 1) * {SEARCH_TAGS} \
                         AND rowid % {SEARCH_TAGS} = {tag}"
                    ),
                    low,
                    high,
                )?);
            }

            let started = Instant::now();
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (table, columns, rows) in &tables {
                let width = rows.first().map_or(0, Vec::len);
                let marks: Vec<String> = (1..=width).map(|i| format!("?{i}")).collect();
                let mut insert =
                    tx.prepare_cached(&format!("INSERT INTO {table} ({columns}) VALUES ({})", marks.join(", ")))?;
                for row in rows {
                    insert
                        .execute(rusqlite::params_from_iter(row.iter()))
                        .with_context(|| format!("baseline {table}"))?;
                }
                out.rows += rows.len() as u64;
            }
            tx.commit()?;
            out.rows_time += started.elapsed();

            let started = Instant::now();
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT INTO search_docs (rowid, case_id, body) VALUES (?1, ?2, ?3)")?;
                for document in &documents {
                    insert.execute(rusqlite::params_from_iter(document.iter())).context("baseline search_docs")?;
                }
            }
            tx.commit()?;
            out.fts_time += started.elapsed();
            out.documents += documents.len() as u64;
            previous = *mark;
        }
        Ok(out)
    }
}

fn read_rows(conn: &Connection, sql: &str, low: i64, high: i64) -> Result<Vec<Vec<SqlValue>>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let width = stmt.column_count();
    let mut rows = stmt.query(params![low, high])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push((0..width).map(|i| row.get::<_, SqlValue>(i)).collect::<rusqlite::Result<Vec<_>>>()?);
    }
    Ok(out)
}

fn print_import(labdesk: &LabDeskImport, baseline: &BaselineImport) {
    let both = baseline.rows_time + baseline.fts_time;
    println!();
    println!("Bulk import");
    println!(
        "  LabDesk   {} records ({} cases + {} meta + {} chat) in {:.1} s → {} records/s",
        thousands(labdesk.records()),
        thousands(labdesk.report.imported),
        thousands(labdesk.meta),
        thousands(labdesk.chat),
        labdesk.in_store.as_secs_f64(),
        thousands(rate(labdesk.records(), labdesk.in_store) as u64)
    );
    println!(
        "            (time inside import_batch; each record also wrote a revision, an outbox entry and its search document;"
    );
    println!("             making up the data took another {:.1} s, not counted)", labdesk.generating.as_secs_f64());
    println!(
        "  baseline  {} rows in {:.1} s → {} rows/s (plain INSERTs, same indexes, no revisions/outbox/triggers)",
        thousands(baseline.rows),
        baseline.rows_time.as_secs_f64(),
        thousands(rate(baseline.rows, baseline.rows_time) as u64)
    );
    println!(
        "            + plain FTS5 table of the same {} texts, built in separate transactions: {:.1} s",
        thousands(baseline.documents),
        baseline.fts_time.as_secs_f64()
    );
    println!(
        "            rows + FTS: {:.1} s → {} rows/s",
        both.as_secs_f64(),
        thousands(rate(baseline.rows, both) as u64)
    );
    println!();
}

fn rate(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64().max(1e-9)
}

// ---------------------------------------------------------------------------------------------
// Store size

#[derive(Debug)]
struct Sizes {
    labdesk_bytes: u64,
    baseline_bytes: u64,
    /// Bytes by part of the store ("rows and their indexes", "revisions", ...), largest first.
    labdesk_parts: Vec<(String, u64)>,
    baseline_parts: Vec<(String, u64)>,
}

fn measure_sizes(store: &Store, baseline: &Baseline) -> Result<Sizes> {
    println!("[3/5] Store size (after PRAGMA wal_checkpoint(TRUNCATE)) …");
    let labdesk_path = store.path().context("the store has no file")?.to_owned();
    let baseline_path = baseline.conn.path().context("the baseline has no file")?.to_owned();
    for conn in [store.connection(), &baseline.conn] {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        ensure!(busy == 0, "the WAL checkpoint could not complete");
    }
    let file_size = |path: &str| -> Result<u64> {
        let wal = std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len());
        Ok(std::fs::metadata(path).with_context(|| format!("size of {path}"))?.len() + wal)
    };
    Ok(Sizes {
        labdesk_bytes: file_size(&labdesk_path.to_string_lossy())?,
        baseline_bytes: file_size(&baseline_path)?,
        labdesk_parts: size_parts(store.connection())?,
        baseline_parts: size_parts(&baseline.conn)?,
    })
}

const FULL_TEXT_PART: &str = "full-text index";

/// Where the bytes go, from SQLite's dbstat table: each table with its indexes, FTS5 shadow
/// tables together.
fn size_parts(conn: &Connection) -> Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare(
        "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d \
         LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1",
    )?;
    let mut parts: BTreeMap<String, u64> = BTreeMap::new();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (table, bytes) = row?;
        let part = match table.as_str() {
            "cases" | "case_meta" | "chat_messages" => "cases, meta, chat rows + indexes",
            "revisions" => "revisions",
            "outbox" | "sqlite_sequence" => "outbox",
            "case_assignees" => "assignee index",
            t if t.starts_with("search_index") || t.starts_with("search_docs") => FULL_TEXT_PART,
            _ => "other (schema, empty tables)",
        };
        *parts.entry(part.to_owned()).or_default() += u64::try_from(bytes).unwrap_or(0);
    }
    let mut parts: Vec<(String, u64)> = parts.into_iter().collect();
    parts.sort_by_key(|part| std::cmp::Reverse(part.1));
    Ok(parts)
}

fn print_sizes(sizes: &Sizes, records: u64) {
    println!();
    println!("Store size on disk ({} records)", thousands(records));
    for (name, bytes, parts) in [
        ("LabDesk ", sizes.labdesk_bytes, &sizes.labdesk_parts),
        ("baseline", sizes.baseline_bytes, &sizes.baseline_parts),
    ] {
        println!("  {name}  {:>8.1} MB  ({:.0} bytes/record)", mb(bytes), bytes as f64 / records.max(1) as f64);
        for (part, part_bytes) in parts {
            println!("              {:>8.1} MB  {part}", mb(*part_bytes));
        }
    }
    println!();
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

// ---------------------------------------------------------------------------------------------
// Timing

/// Durations of repeated runs of one operation.
#[derive(Debug, Clone)]
struct Timing {
    sorted_ms: Vec<f64>,
}

impl Timing {
    fn from_samples(samples: Vec<Duration>) -> Self {
        let mut sorted_ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        sorted_ms.sort_by(f64::total_cmp);
        Self { sorted_ms }
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.sorted_ms.is_empty() {
            return f64::NAN;
        }
        let rank = (p * self.sorted_ms.len() as f64).ceil() as usize;
        self.sorted_ms[rank.clamp(1, self.sorted_ms.len()) - 1]
    }

    fn median(&self) -> f64 {
        self.percentile(0.5)
    }

    fn p95(&self) -> f64 {
        self.percentile(0.95)
    }

    fn runs(&self) -> usize {
        self.sorted_ms.len()
    }

    fn cell(&self) -> String {
        format!("{} / {}", ms(self.median()), ms(self.p95()))
    }
}

/// Runs `op` a few times to warm the caches, then times it until it has enough runs.
fn measure(mut op: impl FnMut() -> Result<()>) -> Result<Timing> {
    for _ in 0..WARMUP_RUNS {
        op()?;
    }
    let started = Instant::now();
    let mut samples = Vec::with_capacity(MAX_RUNS);
    while samples.len() < MAX_RUNS && (samples.len() < MIN_RUNS || started.elapsed() < RUN_BUDGET) {
        let run = Instant::now();
        op()?;
        samples.push(run.elapsed());
    }
    Ok(Timing::from_samples(samples))
}

fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

// ---------------------------------------------------------------------------------------------
// Queries

/// One read measured on both sides.
#[derive(Debug)]
struct Compared {
    label: String,
    labdesk: Timing,
    baseline: Timing,
    target_ms: Option<f64>,
}

/// The columns of a case-list row (query.rs `SUMMARY_COLUMNS`).
const SUMMARY_COLUMNS: &str = "id, case_number, patient_name, status, priority, start_date, due_date, assignees, \
                               parent_id, version, created_at, updated_at, deleted_at";

/// A list page the plain way: the count, then the page by due date through the `cases_due`
/// index. Returns the total and the page's case numbers.
fn baseline_page(conn: &Connection, filter: &str, params: &[&str], offset: u32) -> Result<(u64, Vec<String>)> {
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM cases WHERE {filter}"))?
        .query_row(rusqlite::params_from_iter(params), |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM cases WHERE {filter} ORDER BY due_date, seq LIMIT {PAGE} OFFSET {offset}"
    ))?;
    let width = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut numbers = Vec::with_capacity(PAGE as usize);
    while let Some(row) = rows.next()? {
        // Read every column, as a real list would, without building anything from it.
        for i in 0..width {
            black_box(row.get_ref(i)?);
        }
        numbers.push(row.get(1)?);
    }
    Ok((u64::try_from(total).unwrap_or(0), numbers))
}

/// Full-text search the plain way: one FTS5 MATCH ranked by bm25 with the same limit, with the
/// same snippet. The query text is the one the store makes (every word quoted, as a prefix).
fn baseline_search(conn: &Connection, fts_expr: &str) -> Result<usize> {
    // Top level on purpose: with ORDER BY rank FTS5 sorts by itself and computes snippets only
    // for the rows returned. Inside a subquery SQLite sorts instead, and snippets every match.
    let mut stmt = conn.prepare_cached(
        "SELECT case_id, snippet(search_docs, 1, '[', ']', '…', 10) FROM search_docs \
         WHERE search_docs MATCH ?1 ORDER BY rank LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![fts_expr, PAGE])?;
    let mut hits = 0;
    while let Some(row) = rows.next()? {
        black_box(row.get_ref(1)?);
        hits += 1;
    }
    Ok(hits)
}

/// The FTS5 expression `Store::search` makes of what was typed (query.rs `fts_query`).
fn fts_expression(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_queries(
    store: &Store,
    baseline: &Baseline,
    imported: &LabDeskImport,
    data: &Generator,
) -> Result<Vec<Compared>> {
    println!(
        "[4/5] Reads: {WARMUP_RUNS} warm-up runs, then {MIN_RUNS}–{MAX_RUNS} timed runs (up to ~{} s) per side; \
         times in ms as median / p95",
        RUN_BUDGET.as_secs()
    );
    let base = &baseline.conn;
    let mut out = Vec::new();
    let cases = imported.report.imported;

    // (a)–(d): case-list pages, each with its total as the UI shows it ("1–50 of 52,113").
    let status = "designing";
    let priority = "high";
    let technician = TECHNICIANS[0];
    let deep = DEEP_OFFSET.min(u32::try_from(cases / 2).unwrap_or(u32::MAX));
    let pages: [(String, CaseQuery, String, Vec<&str>); 4] = [
        (
            format!("list: first page ({PAGE}, by due date) + total"),
            CaseQuery::default(),
            "deleted_at IS NULL".into(),
            vec![],
        ),
        (
            format!("list: status={status} & priority={priority}"),
            CaseQuery { status: vec![status.into()], priority: vec![priority.into()], ..CaseQuery::default() },
            "deleted_at IS NULL AND status = ?1 AND priority = ?2".into(),
            vec![status, priority],
        ),
        (
            format!("list: assignee={technician}"),
            CaseQuery { assignee: Some(technician.into()), ..CaseQuery::default() },
            // The plain tables have no assignee index (LabDesk keeps one by trigger): JSON scan.
            "deleted_at IS NULL AND EXISTS (SELECT 1 FROM json_each(cases.assignees) WHERE value = ?1)".into(),
            vec![technician],
        ),
        (
            format!("list: deep page (offset {})", thousands(u64::from(deep))),
            CaseQuery { offset: deep, ..CaseQuery::default() },
            "deleted_at IS NULL".into(),
            vec![],
        ),
    ];
    for (label, query, filter, params) in pages {
        // Both sides must show the same cases, or the comparison means nothing.
        let page = store.list_cases(&query).with_context(|| label.clone())?;
        let (total, numbers) = baseline_page(base, &filter, &params, query.offset)?;
        let ours: Vec<&str> = page.cases.iter().map(|c| c.case_number.as_str()).collect();
        ensure!(
            page.total == total && ours == numbers,
            "{label}: LabDesk and the baseline disagree (totals {} vs {total})",
            page.total
        );
        let labdesk = measure(|| {
            black_box(store.list_cases(&query)?);
            Ok(())
        })?;
        let plain = measure(|| {
            black_box(baseline_page(base, &filter, &params, query.offset)?);
            Ok(())
        })?;
        print_compared(&label, &labdesk, &plain, &format!("{} of {} cases", page.cases.len(), thousands(total)));
        out.push(Compared { label, labdesk, baseline: plain, target_ms: Some(LIST_TARGET_MS) });
    }

    // (e): full-text search, LabDesk's ranked and de-duplicated hits vs a plain ranked MATCH.
    let middle = imported.report.case_numbers.get(imported.report.case_numbers.len() / 2).cloned().unwrap_or_default();
    let searches = [
        ("patient surname", SEARCH_SURNAME.to_owned()),
        ("common chat word", SEARCH_COMMON.to_owned()),
        ("rare word", SEARCH_RARE.to_owned()),
        ("case number", middle),
    ];
    for (what, text) in searches {
        let label = format!("search: {what} '{text}'");
        let expr = fts_expression(&text);
        let matching: i64 =
            base.query_row("SELECT count(*) FROM search_docs WHERE search_docs MATCH ?1", [&expr], |r| r.get(0))?;
        let hits = store.search(&text, PAGE).with_context(|| label.clone())?.len();
        let labdesk = measure(|| {
            black_box(store.search(&text, PAGE)?);
            Ok(())
        })?;
        let plain = measure(|| {
            black_box(baseline_search(base, &expr)?);
            Ok(())
        })?;
        let note = format!(
            "documents matching: {}; cases shown by LabDesk: {hits}",
            thousands(u64::try_from(matching).unwrap_or(0))
        );
        print_compared(&label, &labdesk, &plain, &note);
        out.push(Compared { label, labdesk, baseline: plain, target_ms: Some(SEARCH_TARGET_MS) });
    }

    // (f): opening a case with a typical number of messages.
    let index = data.typical_chat_case();
    let number = imported.report.case_numbers.get(index).cloned().context("no case to open")?;
    let detail = store.case_detail(&number)?;
    let label = format!("case detail ({} messages, {} meta)", detail.chat.len(), detail.meta.len());
    let labdesk = measure(|| {
        black_box(store.case_detail(&number)?);
        Ok(())
    })?;
    let plain = measure(|| {
        black_box(baseline_detail(base, &number)?);
        Ok(())
    })?;
    print_compared(
        &label,
        &labdesk,
        &plain,
        "LabDesk also reads stages, files, notes, children and pending changes; baseline: 3 plain SELECTs",
    );
    out.push(Compared { label, labdesk, baseline: plain, target_ms: None });
    println!();
    Ok(out)
}

/// Opening a case the plain way: the case row, its meta and its chat, every column read.
fn baseline_detail(conn: &Connection, case_number: &str) -> Result<usize> {
    let case: Vec<SqlValue> = {
        let mut stmt = conn.prepare_cached("SELECT * FROM cases WHERE case_number = ?1")?;
        let width = stmt.column_count();
        stmt.query_row([case_number], |r| (0..width).map(|i| r.get::<_, SqlValue>(i)).collect())?
    };
    let Some(SqlValue::Text(id)) = case.get(1) else { bail!("case {case_number} has no id") };
    let mut read = 0;
    for sql in [
        "SELECT * FROM case_meta WHERE case_id = ?1 AND deleted_at IS NULL ORDER BY key",
        "SELECT * FROM chat_messages WHERE case_id = ?1 ORDER BY created_at, seq",
    ] {
        let mut stmt = conn.prepare_cached(sql)?;
        let width = stmt.column_count();
        let mut rows = stmt.query([id])?;
        while let Some(row) = rows.next()? {
            let values: Vec<SqlValue> = (0..width).map(|i| row.get(i)).collect::<rusqlite::Result<_>>()?;
            black_box(values);
            read += 1;
        }
    }
    Ok(read)
}

fn print_compared(label: &str, labdesk: &Timing, baseline: &Timing, note: &str) {
    println!(
        "  {label:<44} LabDesk {:>15} ms ({:>3} runs)   baseline {:>15} ms ({:>3} runs)",
        labdesk.cell(),
        labdesk.runs(),
        baseline.cell(),
        baseline.runs()
    );
    println!("  {:<44} {note}", "");
}

// ---------------------------------------------------------------------------------------------
// Single edits

#[derive(Debug)]
struct Edits {
    labdesk: Timing,
    baseline: Timing,
}

/// Changes the status of random cases one at a time, alternating LabDesk and baseline so both
/// see the same disk conditions. LabDesk writes the row, a revision, an outbox entry and the
/// search and assignee indexes in one fsynced transaction; the baseline one plain UPDATE.
fn run_edits(store: &mut Store, baseline: &Baseline, imported: &LabDeskImport, seed: u64) -> Result<Edits> {
    println!("[5/5] Single edits: {EDITS} status changes, each its own transaction (fsync) …");
    let mut rng = StdRng::seed_from_u64(seed ^ 0xed17);
    let numbers = &imported.report.case_numbers;
    let mut ours = Vec::with_capacity(EDITS);
    let mut plain = Vec::with_capacity(EDITS);
    let mut update = baseline.conn.prepare("UPDATE cases SET status = ?1 WHERE id = ?2")?;
    for _ in 0..EDITS {
        let number = numbers.choose(&mut rng).context("no cases")?;
        let case = store.case(number)?;
        // Always a different status, so every edit makes a revision.
        let at = SUGGESTED_STATUSES.iter().position(|s| *s == case.record.status).unwrap_or(0);
        let status = SUGGESTED_STATUSES[(at + 1) % SUGGESTED_STATUSES.len()];
        let mut patch = Map::new();
        patch.insert("status".into(), status.into());

        let started = Instant::now();
        let written = store.edit_case(number, None, patch)?;
        ours.push(started.elapsed());
        ensure!(written.revision.is_some(), "edit of {number} made no revision");

        let started = Instant::now();
        baseline.conn.execute_batch("BEGIN IMMEDIATE")?;
        let changed = update.execute(params![status, case.id.to_string()])?;
        baseline.conn.execute_batch("COMMIT")?;
        plain.push(started.elapsed());
        ensure!(changed == 1, "baseline has no case {}", case.id);
    }
    let edits = Edits { labdesk: Timing::from_samples(ours), baseline: Timing::from_samples(plain) };
    print_compared(
        "edit case status",
        &edits.labdesk,
        &edits.baseline,
        "LabDesk: Store::edit_case; baseline: UPDATE cases SET status=? WHERE id=? in its own transaction",
    );
    println!();
    Ok(edits)
}

// ---------------------------------------------------------------------------------------------
// Summary

fn print_summary(
    labdesk: &LabDeskImport,
    baseline: &BaselineImport,
    queries: &[Compared],
    edits: &Edits,
    sizes: &Sizes,
) {
    let records = labdesk.records();
    let mut rows: Vec<[String; 5]> = Vec::new();
    let dash = || "—".to_owned();
    rows.push([
        "bulk import, records/s".into(),
        thousands(rate(records, labdesk.in_store) as u64),
        format!("{} (rows only)", thousands(rate(baseline.rows, baseline.rows_time) as u64)),
        dash(),
        dash(),
    ]);
    rows.push([
        "bulk import incl. full-text, records/s".into(),
        thousands(rate(records, labdesk.in_store) as u64),
        format!("{} (rows + FTS)", thousands(rate(baseline.rows, baseline.rows_time + baseline.fts_time) as u64)),
        dash(),
        dash(),
    ]);
    rows.push([
        "bulk import wall time, s".into(),
        format!("{:.1}", labdesk.in_store.as_secs_f64()),
        format!("{:.1} rows + {:.1} FTS", baseline.rows_time.as_secs_f64(), baseline.fts_time.as_secs_f64()),
        dash(),
        dash(),
    ]);
    for q in queries {
        let (target, met) = match q.target_ms {
            Some(target) => (format!("≤ {target} ms"), if q.labdesk.p95() <= target { "yes" } else { "NO" }.to_owned()),
            None => (dash(), dash()),
        };
        rows.push([format!("{}, ms", q.label), q.labdesk.cell(), q.baseline.cell(), target, met]);
    }
    rows.push(["single edit (status), ms".into(), edits.labdesk.cell(), edits.baseline.cell(), dash(), dash()]);
    // The baseline's own FTS table is reported apart too: "plain rows" is the floor.
    let baseline_fts: u64 =
        sizes.baseline_parts.iter().filter(|(part, _)| part == FULL_TEXT_PART).map(|(_, bytes)| bytes).sum();
    let baseline_rows = sizes.baseline_bytes.saturating_sub(baseline_fts);
    let per_record = |bytes: u64| bytes as f64 / records.max(1) as f64;
    rows.push([
        "store size, MB".into(),
        format!("{:.1}", mb(sizes.labdesk_bytes)),
        format!("{:.1} ({:.1} without FTS)", mb(sizes.baseline_bytes), mb(baseline_rows)),
        dash(),
        dash(),
    ]);
    rows.push([
        "store size, bytes/record".into(),
        format!("{:.0}", per_record(sizes.labdesk_bytes)),
        format!("{:.0} ({:.0} without FTS)", per_record(sizes.baseline_bytes), per_record(baseline_rows)),
        dash(),
        dash(),
    ]);

    println!("Summary");
    println!("  times are median / p95 in ms; targets are judged on the LabDesk p95;");
    println!(
        "  baseline = plain SQLite tables with the same rows, columns and indexes (its size includes its FTS table)"
    );
    let headers = ["metric", "LabDesk", "baseline", "target", "met?"];
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: [&str; 5]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
            .collect();
        println!("  {}", padded.join(" | ").trim_end());
    };
    line(headers);
    println!("  {}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"));
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    let missed: Vec<&str> =
        queries.iter().filter(|q| q.target_ms.is_some_and(|t| q.labdesk.p95() > t)).map(|q| q.label.as_str()).collect();
    if missed.is_empty() {
        println!("  All list and search targets met.");
    } else {
        println!("  Targets missed: {}", missed.join("; "));
    }
    println!("  Load average at the end: {}", load_average());
}

/// 1234567 → "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
