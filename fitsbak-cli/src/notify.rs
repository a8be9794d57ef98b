//! Reports of a run, sent where the config says: mail over SMTP
//! (`notifications.smtp_server`, the password from `FITSBAK_SMTP_PASSWORD`) and a
//! JSON POST to `notifications.webhook_url`. A report that cannot be sent is said
//! on stderr; it never changes the run's outcome.

use fitsbak_core::config::{Notifications, SmtpTls};
use serde::Serialize;

use crate::context::Context;

/// The environment variable holding the SMTP password.
pub const SMTP_PASSWORD_ENV: &str = "FITSBAK_SMTP_PASSWORD";

/// What a run did, for a person who was not watching.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `fitsbak`.
    pub tool: &'static str,
    /// The command (`upload`, `verify --due`).
    pub command: String,
    /// Where backups go.
    pub target: String,
    /// The machine it ran on.
    pub host: String,
    /// No failure.
    pub ok: bool,
    /// The run's one-line summary.
    pub summary: String,
    /// Each failure, one line each.
    pub failures: Vec<String>,
    /// What needs a person's look, from the tracking rows and the catalog: sessions
    /// not backed up, changed since, archives due a check, interrupted uploads.
    pub attention: Vec<String>,
}

impl RunReport {
    /// A report of `command` on `ctx`'s target.
    pub fn new(ctx: &Context, command: &str, summary: String, failures: Vec<String>) -> Self {
        Self {
            tool: "fitsbak",
            command: command.to_owned(),
            target: ctx.config.target_description(),
            host: hostname(),
            ok: failures.is_empty(),
            summary,
            failures,
            attention: Vec::new(),
        }
    }

    /// Adds what `status` finds worth a look.
    pub fn with_status(mut self, status: &fitsbak_core::engine::status::StatusReport) -> Self {
        let mut add = |n: u64, what: &str| {
            if n > 0 {
                self.attention.push(format!("{n} {what}"));
            }
        };
        add(status.sessions_not_backed_up, "session(s) not backed up");
        add(
            status.sessions_changed.len() as u64,
            "session(s) changed in the catalog since their backup",
        );
        add(
            status.archives_check_due,
            "archive(s) due a check (`fitsbak verify --due`)",
        );
        add(
            status.uploads_in_flight,
            "interrupted upload(s), resumed by the next run",
        );
        self
    }

    fn subject(&self) -> String {
        match self.ok {
            true => format!("fitsbak {} on {}: done", self.command, self.host),
            false => format!(
                "fitsbak {} on {}: {} FAILURE(S)",
                self.command,
                self.host,
                self.failures.len()
            ),
        }
    }

    fn body(&self) -> String {
        let mut text = format!("{}\n\nTarget: {}\n", self.summary, self.target);
        if !self.failures.is_empty() {
            text.push_str("\nWhat failed:\n");
            for f in &self.failures {
                text.push_str(&format!("- {f}\n"));
            }
            text.push_str("\nThe next run tries again.\n");
        }
        if !self.attention.is_empty() {
            text.push_str("\nWorth a look:\n");
            for a in &self.attention {
                text.push_str(&format!("- {a}\n"));
            }
        }
        text.push_str("\n`fitsbak status` and `fitsbak doctor` say more.\n");
        text
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".into())
}

fn wanted(on_complete: bool, on_error: bool, ok: bool) -> bool {
    if ok { on_complete } else { on_error }
}

/// Sends `report` where the config asks; problems are said, never returned.
pub async fn send(ctx: &Context, report: &RunReport) {
    let n = &ctx.config.notifications;
    if wanted(n.email_on_complete, n.email_on_error, report.ok)
        && let (Some(server), Some(to)) = (&n.smtp_server, &n.email_address)
        && let Err(e) = mail(n, server, to, report).await
    {
        crate::output::print_error(format!(
            "the report was not mailed to {to} via {server}: {e}"
        ));
    }
    if wanted(n.webhook_on_complete, n.webhook_on_error, report.ok)
        && let Some(url) = n.webhook_url.clone()
    {
        let body = report.clone();
        let sent = tokio::task::spawn_blocking(move || post(&url, &body))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        if let Err(e) = sent {
            let url = n.webhook_url.as_deref().unwrap_or_default();
            crate::output::print_error(format!(
                "the report was not posted to {}: {e}",
                without_query(url)
            ));
        }
    }
}

/// A URL without its query and credentials, for messages (webhook URLs often
/// carry a token).
fn without_query(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

async fn mail(n: &Notifications, server: &str, to: &str, report: &RunReport) -> anyhow::Result<()> {
    use lettre::message::Mailbox;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let from: Mailbox = n.email_from.as_deref().unwrap_or(to).parse()?;
    let message = Message::builder()
        .from(from)
        .to(to.parse()?)
        .subject(report.subject())
        .body(report.body())?;
    let tls = match n.smtp_tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(TlsParameters::new(server.to_owned())?),
        SmtpTls::Tls => Tls::Wrapper(TlsParameters::new(server.to_owned())?),
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
        .port(n.smtp_port)
        .tls(tls)
        .timeout(Some(std::time::Duration::from_secs(30)));
    if let Some(user) = &n.smtp_user {
        let password = std::env::var(SMTP_PASSWORD_ENV)
            .map_err(|_| anyhow::anyhow!("smtp_user is set but {SMTP_PASSWORD_ENV} is not"))?;
        transport = transport.credentials(Credentials::new(user.clone(), password));
    }
    transport.build().send(message).await?;
    Ok(())
}

fn post(url: &str, report: &RunReport) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    agent
        .post(url)
        .send_json(report)
        .map(drop)
        .map_err(|e| e.to_string())
}
