//! The real app in a real window (Xvfb, tauri-driver, WebKitWebDriver), used as a front-desk
//! person and a technician would: take in a case, find it in the list, open it, send a chat
//! message, move a stage, add a note; and, on the screens made from a kind's declaration alone,
//! add a lab setting. A screenshot of each screen is saved; afterwards the store on disk must
//! hold exactly what was done, and pass its own check.

mod support;

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use labdesk_core::{OpenOptions, RecordFilter, RecordKind, StageStatus, Store};
use support::window::{prerequisites, AppSession, Display};

/// Where the screenshots go: `LABDESK_SCREENSHOTS` (the README's are made with
/// `LABDESK_SCREENSHOTS=docs/screenshots`), else the test's temp folder.
fn screenshot_dir() -> PathBuf {
    std::env::var_os("LABDESK_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_case_taken_in_at_the_front_desk_is_found_discussed_and_moved_on_in_the_window() -> Result<()> {
    prerequisites()?;
    let display = Display::start()?;
    let root = tempfile::Builder::new().prefix("labdesk-window-").tempdir()?;
    let (home, data) = (root.path().join("home"), root.path().join("data"));
    std::fs::create_dir_all(&home)?;
    let shots = screenshot_dir();
    seed_store(&data)?;
    let app =
        AppSession::start(&display, &home, &data, &[("LABDESK_WORKSTATION", "FD1"), ("LABDESK_USER", "maria")]).await?;
    let run = async {
        // Intake.
        app.find("nav-intake").await?.click().await?;
        app.find("intake-patient").await?.send_keys("Ada Lovelace").await?;
        // A date input takes typed digits in the locale's order in WebKit; set it as a person's
        // pick would, through the input's own setter so React sees the change.
        let due = app.find("intake-due").await?;
        app.client
            .execute(
                "const el = arguments[0]; \
                 const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set; \
                 set.call(el, '2030-03-14'); el.dispatchEvent(new Event('input', {bubbles: true})); \
                 el.dispatchEvent(new Event('change', {bubbles: true}));",
                vec![serde_json::to_value(&due)?],
            )
            .await?;
        app.screenshot(&shots.join("intake.png")).await?;
        app.find("intake-submit").await?.click().await?;
        let number = app.find("intake-case-number").await?.text().await?;
        let number = number.trim().trim_start_matches("Case ").to_owned();
        assert!(number.contains("FD1-"), "the new case number is shown at once, minted offline: {number}");
        app.screenshot(&shots.join("intake-done.png")).await?;

        // The list: the lab's cases and the one just taken in.
        app.find("nav-cases").await?.click().await?;
        app.find("case-list").await?;
        app.until(
            "the list shows the lab's cases and the new one",
            &format!(
                "document.querySelectorAll('[data-testid=case-row]').length >= {} && \
                 [...document.querySelectorAll('[data-testid=case-row]')].some(r => r.textContent.includes('Lovelace'))",
                SEEDED.len() + 1
            ),
        )
        .await?;
        // WebKitWebDriver answers a screenshot only after a paint, and an idle page under Xvfb
        // may not paint again (the Settings screen hangs so): the search box's blinking caret
        // keeps painting.
        let search = app.find("search").await?;
        search.click().await?;
        app.screenshot(&shots.join("case-list.png")).await?;
        search.send_keys("Lovelace").await?;
        app.until(
            "the search finds the case, and only it",
            "(() => { const rows = [...document.querySelectorAll('[data-testid=case-row]')]; \
              return rows.length === 1 && rows[0].textContent.includes('Lovelace'); })()",
        )
        .await?;
        app.find("case-row").await?.click().await?;

        // Detail: chat.
        app.find("chat-input").await?.send_keys("Shade A2, please check the margin").await?;
        app.find("chat-send").await?.click().await?;
        app.until(
            "the message appears in the chat",
            "[...document.querySelectorAll('[data-testid=chat-message]')].some(m => m.textContent.includes('Shade A2'))",
        )
        .await?;

        // Detail: the receiving stage is started.
        let stage = app.find("stage-receiving").await?;
        stage.find(fantoccini::Locator::Css("[data-testid=stage-start]")).await?.click().await?;
        app.until(
            "the stage shows it is in progress",
            "/in.progress/i.test(document.querySelector('[data-testid=stage-receiving]').textContent)",
        )
        .await?;
        app.screenshot(&shots.join("case-detail.png")).await?;

        // Detail: a note on the case.
        app.find("tab-notes").await?.click().await?;
        app.find("note-input").await?.send_keys("Dentist asks for a call before delivery").await?;
        app.find("note-add").await?.click().await?;
        app.until(
            "the note appears in the notes",
            "[...document.querySelectorAll('[data-testid=note]')].some(n => n.textContent.includes('call before delivery'))",
        )
        .await?;
        // The status bar, always there, counts the changes waiting for the lab's server.
        let bar = app.find("sync-status").await?.text().await?;
        assert!(bar.contains("Not signed in"), "a workstation never signed in says so: {bar}");
        app.until(
            "the status bar counts the changes waiting to be sent",
            "/\\d+ changes waiting/.test(document.querySelector('[data-testid=sync-pending]').textContent)",
        )
        .await?;

        // Lab settings: a kind with no screen code of its own, listed and edited from its declaration.
        app.find("nav-records-setting").await?.click().await?;
        app.until(
            "the lab's settings are listed",
            &format!("document.querySelectorAll('[data-testid=record-row]').length === {}", SEEDED_SETTINGS.len()),
        )
        .await?;
        app.find("record-new").await?.click().await?;
        app.find("record-field-key").await?.send_keys("invoice_footer").await?;
        app.find("record-field-value").await?.send_keys("Payable within 30 days. Thank you for your order.").await?;
        app.find("record-field-description").await?.send_keys("Printed under every invoice").await?;
        app.find("record-save").await?.click().await?;
        app.until(
            "the new setting is listed and open in its form",
            &format!(
                "document.querySelector('[data-testid=record-title]')?.textContent === 'invoice_footer' && \
                 document.querySelectorAll('[data-testid=record-row]').length === {}",
                SEEDED_SETTINGS.len() + 1
            ),
        )
        .await?;
        // The caret keeps the page painting, for the screenshot (see the case list's).
        app.find("record-field-value").await?.click().await?;
        app.screenshot(&shots.join("lab-settings.png")).await?;

        Ok::<_, anyhow::Error>(number)
    };
    // A step that hangs (a WebDriver call has no timeout of its own) fails the test instead.
    let outcome = match tokio::time::timeout(std::time::Duration::from_secs(180), run).await {
        Ok(outcome) => outcome,
        Err(_) => Err(anyhow::anyhow!("the window session took over 3 minutes")),
    };
    if let Err(error) = &outcome {
        // Said first: the screenshot and the close below can hang on a page that does not paint.
        eprintln!("the window session failed: {error:#}");
        let _ = app.screenshot(&shots.join("failure.png")).await;
        // Keep the app's and the drivers' logs for the failure.
        let _ = root.keep();
        eprintln!("logs: {}", home.display());
    }
    app.close().await?;
    let number = outcome?;
    eprintln!("screenshots in {}", shots.display());

    // What the window did is in the store, whole.
    let store = Store::open(&data, OpenOptions::default()).context("the app's store opens")?;
    let case = store.case(&number)?;
    assert_eq!(case.record.patient_name, "Ada Lovelace");
    assert_eq!(case.updated_by, "maria", "changes are made as the app's user");
    let chat = store.messages(&number)?;
    assert!(chat.iter().any(|m| m.record.message_content.contains("Shade A2")), "the chat message was stored");
    let notes = store.notes(&number)?;
    assert!(
        notes.iter().any(|n| n.record.body.contains("call before delivery") && n.record.author_id == "maria"),
        "the note was stored, by the app's user"
    );
    let stages = store.stages(&number)?;
    assert_eq!(stages[0].stage.status, StageStatus::InProgress, "receiving was started");
    let settings = store.records(RecordKind::Setting, &RecordFilter::default())?;
    let footer = settings.iter().find(|s| s.record["key"] == "invoice_footer").context("the setting was stored")?;
    assert_eq!(footer.record["value"], "Payable within 30 days. Thank you for your order.");
    assert_eq!(footer.updated_by, "maria", "made as the app's user");
    assert_eq!(settings.len(), SEEDED_SETTINGS.len() + 1);
    let report = store.check(true)?;
    assert!(report.is_ok(), "the store is consistent after the session: {report:?}");
    Ok(())
}

/// The cases a front desk has in its list when the session starts: a few dentists' orders at
/// different priorities and stages, one overdue, so the list screenshot shows a working day.
const SEEDED: &[(&str, &str, &str, &str, &str)] = &[
    ("Grace Hopper", "milling", "rush", "2030-03-02", "crown:zirconia"),
    ("Alan Turing", "designing", "high", "2030-03-05", "bridge:emax"),
    ("Katherine Johnson", "received", "medium", "2030-03-09", "veneer:feldspathic"),
    ("Edsger Dijkstra", "qc", "emergency", "2030-02-27", "implant:abutment"),
    ("Barbara Liskov", "received", "low", "2030-03-20", "denture:full upper"),
    ("John von Neumann", "ready", "medium", "2020-01-10", "crown:gold"),
];

/// The lab's settings when the session starts (key, value, what it is for).
const SEEDED_SETTINGS: &[(&str, &str, &str)] = &[
    ("opening_hours", "Mon–Fri 8:00–17:30, Sat 9:00–12:00", "Shown on delivery notes"),
    ("rush_cutoff", "11:00", "Rush orders in by this time ship the same day"),
];

fn seed_store(data: &std::path::Path) -> Result<()> {
    let options = OpenOptions { workstation: Some("FD1".into()), user: Some("maria".into()) };
    let mut store = Store::open(data, options).context("the app's store is set up before it starts")?;
    for (patient, status, priority, due, service) in SEEDED {
        let (kind, sub) = service.split_once(':').unwrap_or((service, ""));
        let fields = serde_json::json!({
            "patient_name": patient, "status": status, "priority": priority, "due_date": due,
            "services": [{"service_type": kind, "sub_services": [sub]}], "assignees": ["bob"],
        });
        let serde_json::Value::Object(fields) = fields else { unreachable!("a JSON object literal") };
        store.create_case(fields)?;
    }
    for (key, value, description) in SEEDED_SETTINGS {
        let fields = serde_json::json!({ "key": key, "value": value, "description": description });
        let serde_json::Value::Object(fields) = fields else { unreachable!("a JSON object literal") };
        store.create_record(RecordKind::Setting, fields)?;
    }
    Ok(())
}
