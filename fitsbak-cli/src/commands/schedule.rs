//! `fitsbak schedule`: a systemd timer or a crontab line that runs the backup
//! unattended: `upload` (which backs up the notes too), then `verify --due`, each
//! waiting for the lock of a run still going, quiet but for failures.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::Outcome;
use crate::context::Context;

/// The unit files' base name.
const UNIT: &str = "fitsbak-backup";

/// Run the backup on a schedule: write a systemd service and timer, or a crontab
/// line, that run `upload` then `verify --due`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print what would be installed.
    Print(Args),
    /// Install it: user units in ~/.config/systemd/user (then enable the timer), or
    /// a line added to your crontab.
    Install(InstallArgs),
}

/// What to schedule.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  fitsbak schedule print                    # systemd service and timer, daily at 10:00\n  fitsbak schedule print --cron --at 07:30  # a crontab line\n  fitsbak schedule install --dry-run        # what install would write"
)]
pub struct Args {
    /// A crontab line instead of systemd units.
    #[arg(long, conflicts_with = "systemd")]
    cron: bool,
    /// systemd units (the default).
    #[arg(long)]
    systemd: bool,
    /// Time of day to run, HH:MM (local time); the morning after a night's imaging.
    #[arg(long, default_value = "10:00", value_parser = parse_time)]
    at: (u32, u32),
}

/// `schedule install`.
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    what: Args,
    /// Show what would be written, and where, without writing.
    #[arg(long)]
    dry_run: bool,
}

fn parse_time(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not a time of day as HH:MM");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h < 24 && m < 60 {
        Ok((h, m))
    } else {
        Err(bad())
    }
}

/// A path as the unit files and the shell need it: absolute, quoted when it holds
/// a space or a quote.
fn quoted(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\')
    {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

/// What runs: the binary, the config, the two commands.
struct Job {
    binary: PathBuf,
    config: PathBuf,
    dir: PathBuf,
}

impl Job {
    fn of(ctx: &Context) -> anyhow::Result<Self> {
        let binary = std::env::current_exe().context("cannot tell where the fitsbak binary is")?;
        let config = std::path::absolute(&ctx.config_path)
            .with_context(|| format!("cannot resolve {}", ctx.config_path.display()))?;
        let dir = config.parent().map(Path::to_owned).unwrap_or_default();
        Ok(Self {
            binary,
            config,
            dir,
        })
    }

    fn command(&self, args: &str) -> String {
        format!(
            "{} --config {} --quiet --wait {args}",
            quoted(&self.binary),
            quoted(&self.config)
        )
    }

    fn service(&self) -> String {
        format!(
            "[Unit]\n\
             Description=fitsbak: back up imaging sessions to S3\n\
             Wants=network-online.target\n\
             After=network-online.target\n\
             \n\
             [Service]\n\
             Type=oneshot\n\
             WorkingDirectory={}\n\
             ExecStart={}\n\
             ExecStart={}\n\
             Nice=10\n\
             IOSchedulingClass=idle\n",
            quoted(&self.dir),
            self.command("upload"),
            self.command("verify --due"),
        )
    }

    fn timer(&self, (h, m): (u32, u32)) -> String {
        format!(
            "[Unit]\n\
             Description=fitsbak: daily backup of imaging sessions\n\
             \n\
             [Timer]\n\
             OnCalendar=*-*-* {h:02}:{m:02}:00\n\
             Persistent=true\n\
             RandomizedDelaySec=10min\n\
             \n\
             [Install]\n\
             WantedBy=timers.target\n"
        )
    }

    fn cron(&self, (h, m): (u32, u32)) -> String {
        format!(
            "{m} {h} * * * cd {} && {}; {}\n",
            quoted(&self.dir),
            self.command("upload"),
            self.command("verify --due")
        )
    }
}

/// The files `what` makes: (name, content).
fn files(job: &Job, what: &Args) -> Vec<(String, String)> {
    if what.cron {
        vec![("crontab".into(), job.cron(what.at))]
    } else {
        vec![
            (format!("{UNIT}.service"), job.service()),
            (format!("{UNIT}.timer"), job.timer(what.at)),
        ]
    }
}

pub async fn exec(ctx: &Context, command: &Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Print(args) => {
            let job = Job::of(ctx)?;
            for (name, content) in files(&job, args) {
                if !args.cron {
                    println!("# {name}");
                }
                print!("{content}");
                if !args.cron {
                    println!();
                }
            }
            Ok(Outcome::Success)
        }
        Command::Install(args) => install(ctx, args),
    }
}

fn install(ctx: &Context, args: &InstallArgs) -> anyhow::Result<Outcome> {
    let job = Job::of(ctx)?;
    let made = files(&job, &args.what);
    if args.what.cron {
        let line = &made[0].1;
        if args.dry_run {
            print!("would add to your crontab:\n{line}");
            return Ok(Outcome::Success);
        }
        let current = std::process::Command::new("crontab")
            .arg("-l")
            .output()
            .context("cannot run `crontab -l` (is cron installed?)")?;
        let mut table = if current.status.success() {
            String::from_utf8_lossy(&current.stdout).into_owned()
        } else {
            String::new()
        };
        if table.contains(line.trim_end()) {
            println!("your crontab already has it:\n{line}");
            return Ok(Outcome::Success);
        }
        table.push_str(line);
        let mut child = std::process::Command::new("crontab")
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .context("cannot run `crontab -`")?;
        std::io::Write::write_all(child.stdin.as_mut().expect("piped"), table.as_bytes())?;
        anyhow::ensure!(child.wait()?.success(), "`crontab -` refused the new table");
        print!("added to your crontab:\n{line}");
        return Ok(Outcome::Success);
    }
    let home = std::env::var_os("HOME").context("HOME is not set: cannot find ~/.config")?;
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(home).join(".config"))
        .join("systemd/user");
    for (name, content) in &made {
        let path = dir.join(name);
        if args.dry_run {
            println!("would write {}:\n{content}", path.display());
            continue;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&path, content)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    println!(
        "{}systemctl --user daemon-reload && systemctl --user enable --now {UNIT}.timer \
         (and `loginctl enable-linger $USER` so that it runs while you are logged out)",
        if args.dry_run { "then: " } else { "now run: " }
    );
    Ok(Outcome::Success)
}
