//! Running unattended: one run at a time, output for cron.

use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::support::*;

/// Upload log rows that sent the session's archive.
fn uploads_of(d: &S3Demo, session: &str) -> i64 {
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM s3_backup_log WHERE operation_type = 'upload'
             AND operation_status = 'success' AND session_id = ?1",
            [session],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_uploads_at_once_never_send_a_session_twice() {
    // 12 x 1.5 MiB at 40 Mbit/s: about 4 s, time for a second run to start.
    let d = S3Demo::new("lock", 1, 12, 1536).await;
    let first = spawn(&d, &["--json", "upload", "--bandwidth", "40"], &[]);
    // The first run holds the lock once it has opened the database.
    let started = Instant::now();
    let lock_held = || {
        std::fs::read_dir(d.demo.lib.database_path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with(".lock") && e.metadata().is_ok_and(|m| m.len() > 0)
            })
    };
    while !lock_held() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the first run never took its lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = d.cmd(&["upload"]).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(75), "{err}");
    assert!(
        err.contains("another fitsbak run is working on s3://"),
        "{err}"
    );
    assert!(err.contains("`upload` (pid"), "names who holds it: {err}");

    // --wait waits for the first, then finds nothing to do.
    let waiting = spawn(&d, &["--json", "--wait", "upload"], &[]);
    let (code, done) = finish(first);
    assert_eq!(code, Some(0), "{done}");
    let (code, after) = finish(waiting);
    assert_eq!(code, Some(0), "{after}");
    assert_eq!(after["sessions"][0]["outcome"], "skipped", "{after}");
    let session = &d.demo.lib.sessions[0].id;
    assert_eq!(uploads_of(&d, session), 1, "the session went up once");
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let demo = Demo::new();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("fitsbak"))
        .arg("--config")
        .arg(demo.config())
        .arg("list-sessions")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -1`: read one line, close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
}

#[test]
fn quiet_output_of_a_run_with_one_failure_is_the_failure_and_the_summary() {
    let demo = Demo::new();
    let lost = &demo.lib.sessions[1];
    std::fs::remove_file(&lost.files[0].path).unwrap();
    let out = demo.cmd(&["-q", "upload"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the summary alone: {stdout}");
    assert!(
        lines[0].contains("3 uploaded") && lines[0].contains("1 failed"),
        "{stdout}"
    );
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(errors.len(), 1, "the failure alone: {stderr}");
    assert!(
        errors[0].contains(&format!("error: session {}", lost.id)),
        "{stderr}"
    );
    // Not a terminal: the line says when, and carries no colour codes.
    let stamp = errors[0].split(' ').next().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");

    // Without -q, the next run lists nothing it skipped, only counts it.
    let out = demo.cmd(&["upload"]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("already backed up"), "{stdout}");
    assert!(stdout.contains("3 skipped"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn switching_the_target_backs_everything_up_to_the_new_one() {
    // A trial on the local target first.
    let d = S3Demo::new("switch", 3, 2, 20).await;
    edit_config(d.demo.config(), |c| c["target"] = "local".into());
    let (code, local) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{local}");
    edit_config(d.demo.config(), |c| c["target"] = "s3".into());

    // The bucket is empty: nothing counts as backed up there, the rest is named.
    let (_, status) = d.json_any(&["status"]);
    assert_eq!(status["sessions_backed_up"], 0, "{status}");
    let elsewhere = status["other_targets"].as_object().unwrap();
    assert_eq!(elsewhere.values().next().unwrap(), 3, "{status}");
    let text = stdout(&mut d.cmd(&["status"]));
    assert!(
        text.contains("3 archive(s) recorded in") && text.contains("not in s3://"),
        "{text}"
    );
    let (_, listed) = d.json_any(&["list-sessions"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["backed_up"] == false),
        "{listed}"
    );

    // upload sends every archive to the new target; checks then pass there.
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let uploaded = up["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "uploaded")
        .count();
    assert_eq!(uploaded, 3, "{up}");
    for i in 0..3 {
        assert!(!d.object(&d.archive_key(i)).await.is_empty());
    }
    let (code, verified) = d.json_any(&["verify", "--all"]);
    assert_eq!(code, Some(0), "{verified}");
    assert_eq!(verified.as_array().unwrap().len(), 3);
    // The local target's rows are kept in the history.
    let kept: i64 = Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM s3_backup_archive_history WHERE s3_bucket <> ?1",
            [d.store_bucket()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_due_rotates_deep_checks_within_the_monthly_budget() {
    let d = S3Demo::new("due", 3, 2, 20).await;
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let sizes: Vec<u64> = (0..3)
        .map(|i| {
            let key = d.archive_key(i);
            up["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| key.contains(s["session_id"].as_str().unwrap()))
                .unwrap()["bytes"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let largest = *sizes.iter().max().unwrap() as f64;
    // A price that makes each deep check cost about $1 per KiB: the budget has
    // room for one archive, not two.
    let price = 1024.0 * 1024.0 * 1024.0 / 1024.0;
    let budget = largest / 1024.0 * 1.5;
    edit_config(d.demo.config(), |c| {
        c["cost_tracking"]["data_transfer_cost_per_gb"]["download"] = price.into();
        c["verification"] = serde_json::json!({
            "quick_every_days": 30, "deep_per_run": 3, "monthly_egress_budget_usd": budget
        });
    });
    let (code, first) = d.json_any(&["verify", "--due"]);
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(first["quick_not_due"], 3, "checked after upload: {first}");
    let deep: Vec<&str> = first["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["method"] == "deep")
        .map(|c| c["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(deep.len(), 1, "one fits the budget: {first}");
    assert_eq!(
        first["deep_over_budget"].as_array().unwrap().len(),
        2,
        "{first}"
    );
    assert!(first["egress_after_usd"].as_f64().unwrap() <= budget);

    // The month's budget is spent: the next run reads nothing.
    let (_, second) = d.json_any(&["verify", "--due"]);
    assert!(
        second["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["method"] != "deep"),
        "{second}"
    );

    // A bigger budget: the next ones are those never deep-checked.
    edit_config(d.demo.config(), |c| {
        c["verification"]["monthly_egress_budget_usd"] = (budget * 10.0).into();
        c["verification"]["deep_per_run"] = 1.into();
        c["verification"]["quick_every_days"] = 0.into();
    });
    let (code, third) = d.json_any(&["verify", "--due"]);
    assert_eq!(code, Some(0), "{third}");
    let checks = third["checks"].as_array().unwrap();
    assert_eq!(
        checks
            .iter()
            .filter(|c| c["method"] == "head_object")
            .count(),
        3,
        "{third}"
    );
    let next: Vec<&str> = checks
        .iter()
        .filter(|c| c["method"] == "deep")
        .map(|c| c["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(next.len(), 1, "{third}");
    assert_ne!(next[0], deep[0], "rotates to one not checked yet");
}

/// The files `schedule print` writes, as systemd reads them (Debian's systemd
/// package, `systemd-analyze verify`), and a crontab line cron can read.
#[test]
fn schedule_print_writes_units_systemd_accepts_and_a_valid_crontab_line() {
    let demo = Demo::new();
    let text = stdout(&mut demo.cmd(&["schedule", "print", "--at", "09:15"]));
    let units = demo.dir.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let mut files: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("# ") {
            files.push((n.to_owned(), String::new()));
        } else if let Some((_, body)) = files.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    assert_eq!(files.len(), 2, "{text}");
    for (n, body) in &files {
        std::fs::write(units.join(n), body).unwrap();
    }
    let service = &files[0].1;
    assert!(
        service.contains("--wait upload") && service.contains("verify --due"),
        "{service}"
    );
    assert!(
        files[1].1.contains("OnCalendar=*-*-* 09:15:00"),
        "{}",
        files[1].1
    );
    let analyze = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(units.join("fitsbak-backup.service"))
        .arg(units.join("fitsbak-backup.timer"))
        .output()
        .expect("systemd-analyze is needed (Debian package systemd); scripts/install-test-tools.sh installs it");
    let said = String::from_utf8_lossy(&analyze.stderr).to_string()
        + &String::from_utf8_lossy(&analyze.stdout);
    assert!(analyze.status.success(), "{said}");
    assert!(
        !said.contains("Unknown") && !said.contains("not executable"),
        "{said}"
    );

    let cron = stdout(&mut demo.cmd(&["schedule", "print", "--cron", "--at", "07:30"]));
    let lines: Vec<&str> = cron.lines().collect();
    assert_eq!(lines.len(), 1, "{cron}");
    let fields: Vec<&str> = lines[0].splitn(6, ' ').collect();
    assert_eq!(&fields[..5], &["30", "7", "*", "*", "*"], "{cron}");
    assert!(fields[5].contains("--quiet --wait upload;"), "{cron}");
    let bad = failure(&mut demo.cmd(&["schedule", "print", "--at", "25:00"]), 2);
    assert!(bad.contains("not a time of day"), "{bad}");
}

/// A real SMTP server on loopback (Python's aiosmtpd, from the test tools' venv),
/// printing every message it receives.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
}

impl SmtpServer {
    fn start() -> Self {
        // A port another test takes first makes aiosmtpd exit: try another.
        for _ in 0..5 {
            if let Some(server) = Self::try_start() {
                return server;
            }
        }
        panic!("aiosmtpd did not start on any of 5 ports");
    }

    fn try_start() -> Option<Self> {
        use std::io::Read;
        let python = fitsbak_testkit::moto::moto_binary().with_file_name("python");
        let port = fitsbak_testkit::server::free_port();
        let mut child = std::process::Command::new(&python)
            .args(["-u", "-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Debugging"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "aiosmtpd is needed ({}: {e}); run scripts/install-test-tools.sh",
                    python.display()
                )
            });
        let started = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                return None;
            }
            // It is ours when it greets as an SMTP server and is still running.
            if let Ok(mut probe) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = probe.set_read_timeout(Some(Duration::from_secs(5)));
                let mut banner = [0u8; 4];
                if probe.read_exact(&mut banner).is_ok() && &banner == b"220 " {
                    drop(probe);
                    if child.try_wait().unwrap().is_none() {
                        return Some(Self { child, port });
                    }
                }
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything it printed, once stopped.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let out = self.child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn a_run_with_a_failure_is_reported_by_mail_and_webhook() {
    let demo = Demo::new();
    let lost = &demo.lib.sessions[2];
    std::fs::remove_file(&lost.files[0].path).unwrap();
    let smtp = SmtpServer::start();
    let (hook_port, hook) = http_receiver();
    edit_config(demo.config(), |c| {
        c["notifications"] = serde_json::json!({
            "email_on_error": true,
            "email_address": "observer@example.org",
            "smtp_server": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_tls": "none",
            "webhook_url": format!("http://127.0.0.1:{hook_port}/fitsbak?token=secret"),
        });
    });
    let out = demo.cmd(&["-q", "upload"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("not mailed") && !stderr.contains("not posted"),
        "{stderr}"
    );

    let (request, body) = hook.join().unwrap();
    assert!(
        request.starts_with("POST /fitsbak?token=secret"),
        "{request}"
    );
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["command"], "upload");
    assert!(
        report["failures"][0].as_str().unwrap().contains(&lost.id),
        "{report}"
    );
    assert!(
        report["summary"].as_str().unwrap().contains("1 failed"),
        "{report}"
    );
    assert!(
        report["attention"]
            .to_string()
            .contains("1 session(s) not backed up"),
        "what needs a look: {report}"
    );

    let mail = smtp.stop();
    assert!(mail.contains("observer@example.org"), "{mail}");
    assert!(mail.contains("FAILURE"), "the subject says it: {mail}");
    assert!(mail.contains(&format!("session {}", lost.id)), "{mail}");
    assert!(mail.contains("Worth a look:"), "{mail}");

    // A receiver that is not there: said on stderr, the run's outcome unchanged.
    edit_config(demo.config(), |c| {
        c["notifications"]["smtp_server"] = serde_json::Value::Null;
        c["notifications"]["webhook_url"] = "http://127.0.0.1:9/hook?token=secret".into();
    });
    let out = demo.cmd(&["-q", "upload"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the report was not posted to http://127.0.0.1:9/hook"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "no token in messages: {stderr}");
}

#[test]
fn every_commands_help_ends_with_examples_and_keeps_global_options_apart() {
    let top = stdout(fitsbak().arg("--help"));
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 18, "{commands:?}");
    for command in &commands {
        let help = stdout(fitsbak().args([command.as_str(), "--help"]));
        let examples = help
            .rfind("Examples:")
            .unwrap_or_else(|| panic!("`fitsbak {command} --help` has no examples:\n{help}"));
        let shown = help[examples..]
            .lines()
            .filter(|l| l.trim_start().starts_with("fitsbak "))
            .count();
        assert!((1..=4).contains(&shown), "{command}: {}", &help[examples..]);
        assert!(help.contains("Global options:"), "{command}:\n{help}");
        let own = &help[..help.find("Global options:").unwrap()];
        assert!(
            !own.contains("--config <PATH>"),
            "{command}: global options among its own:\n{help}"
        );
    }
}

#[test]
fn the_log_file_keeps_every_run_and_rotates() {
    let demo = Demo::new();
    let log = demo.dir.path().join("fitsbak.log");
    edit_config(demo.config(), |c| {
        c["logging"]["file"] = log.to_str().unwrap().into();
        c["logging"]["max_size_mb"] = 0.0002.into(); // about 200 bytes
        c["logging"]["keep"] = 2.into();
    });
    let lost = &demo.lib.sessions[1];
    std::fs::remove_file(&lost.files[0].path).unwrap();
    let out = demo.cmd(&["-q", "upload"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("fitsbak --config") && text.contains("upload"),
        "the command: {text}"
    );
    assert!(
        text.contains("INFO done     "),
        "each item, also with -q: {text}"
    );
    assert!(
        text.contains(&format!("ERROR session {}: 1 of", lost.id)),
        "the failure: {text}"
    );
    assert!(text.lines().all(|l| l.starts_with("20")), "stamped: {text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    // Over the limit: the next run starts a new file, the old one kept as .1, then .2.
    for _ in 0..3 {
        demo.cmd(&["-q", "upload"]).output().unwrap(); // each writes more than that
    }
    assert!(log.with_extension("log.1").exists());
    assert!(log.with_extension("log.2").exists());
    assert!(!log.with_extension("log.3").exists(), "keep = 2");
}

/// A throttled upload in a real terminal (tmux) `width` columns wide: the screens
/// captured every 100 ms until it ends.
fn screens_of_a_throttled_upload(d: &S3Demo, width: u16) -> Vec<String> {
    let socket = format!("fitsbak-test-{}-{width}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-L")
            .arg(&socket)
            .args(args)
            .output()
            .expect("tmux is needed (Debian package tmux)")
    };
    let binary = assert_cmd::cargo::cargo_bin("fitsbak");
    let mut command = format!(
        "{} --config {} upload --bandwidth 40 --no-skip-existing; echo FITSBAK-EXIT $?; sleep 30",
        binary.display(),
        d.demo.config().display()
    );
    for (k, v) in d.server.child_env() {
        command = format!("{k}={v} {command}");
    }
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        &width.to_string(),
        "-y",
        "30",
        "sh",
        "-c",
        &command,
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let mut screens = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let shot = tmux(&["capture-pane", "-p", "-t", "t"]);
        let text = String::from_utf8_lossy(&shot.stdout).into_owned();
        let finished = text.contains("FITSBAK-EXIT");
        screens.push(text);
        if finished || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux(&["kill-server"]);
    screens
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bars_move_with_the_parts_and_fit_the_terminal() {
    // Two sessions of 12 x 1.5 MiB at 40 Mbit/s: about 4 s each.
    let d = S3Demo::new("bars", 2, 12, 1536).await;
    let first = &d.demo.lib.sessions[0].id;
    for width in [80u16, 120] {
        let screens = screens_of_a_throttled_upload(&d, width);
        let last = screens.last().unwrap();
        println!(
            "{width} columns, mid-run:\n{}",
            screens[screens.len() * 2 / 5]
        );
        assert!(
            last.contains("FITSBAK-EXIT 0"),
            "the upload ended well:\n{last}"
        );
        for s in &screens {
            for line in s.lines() {
                assert!(
                    line.chars().count() <= width as usize,
                    "{width} columns: {line:?}"
                );
            }
        }
        // Before the first session ends, the run bar has moved.
        let during: Vec<&String> = screens
            .iter()
            .filter(|s| !s.contains(&format!("done     {first}")))
            .collect();
        let moved = during.iter().any(|s| {
            s.lines()
                .any(|l| l.starts_with("upload 0/2") && !l.contains(" 0 B/") && l.contains("ETA"))
        });
        assert!(
            moved,
            "the run bar moved during the first session at {width} columns:\n{}",
            during.last().unwrap()
        );
        // The session bar names the session in full, with its rate and ETA.
        assert!(
            during.iter().any(|s| s
                .lines()
                .any(|l| l.contains(first.as_str()) && l.contains("ETA"))),
            "{width}: {}",
            during.last().unwrap()
        );
        // The rate shown respects the cap: 40 Mbit/s is 4.77 MiB/s. No part goes before
        // its share of the time and the rate is measured from the start, so it is at
        // most that; once the 10 s window slides, the parts in flight at its edge can
        // add up to 4 MiB over 10 s.
        for s in &screens {
            for l in s.lines().filter(|l| l.contains("MiB/s")) {
                let rate: f64 = l
                    .split("MiB/s")
                    .next()
                    .and_then(|x| x.split_whitespace().last())
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0.0);
                assert!(rate < 5.2, "a rate over the cap: {l}");
            }
        }
    }
}

/// After a disaster that lost the notes rows, `sync-db` rebuilds them from the
/// bucket with `archive_concurrency` HEADs at once, not one after another.
#[tokio::test(flavor = "multi_thread")]
async fn sync_db_rebuilds_notes_rows_several_heads_at_once() {
    let d = S3Demo::new("many-notes", 12, 1, 8).await;
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let notes = |d: &S3Demo| -> i64 {
        rusqlite::Connection::open(&d.demo.lib.database_path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM s3_backup_session_notes", [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let sent = notes(&d);
    assert!(sent >= 8, "the demo's sessions have notes: {sent}");
    rusqlite::Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .execute("DELETE FROM s3_backup_session_notes", [])
        .unwrap();
    let proxy = fitsbak_testkit::proxy::FaultProxy::start(d.server.port, 0, Duration::from_secs(3));
    proxy.set_delay(Duration::from_millis(20));
    edit_config(d.demo.config(), |c| {
        c["endpoint_url"] = proxy.endpoint.clone().into();
        c["archive_concurrency"] = 8.into();
    });
    let (code, synced) = d.json_any(&["sync-db"]);
    assert_eq!(code, Some(0), "{synced}");
    assert_eq!(
        synced["notes_added"].as_array().unwrap().len() as i64,
        sent,
        "{synced}"
    );
    assert_eq!(notes(&d), sent, "every notes row is back");
    let most = proxy
        .stats
        .max_in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(most >= 4, "several HEADs at once: {most}");
}

#[tokio::test(flavor = "multi_thread")]
async fn quick_checks_of_many_archives_run_several_at_once_in_order() {
    let d = S3Demo::new("many", 12, 1, 8).await;
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    // 20 ms per request, as a home connection adds.
    let proxy = fitsbak_testkit::proxy::FaultProxy::start(d.server.port, 0, Duration::from_secs(3));
    proxy.set_delay(Duration::from_millis(20));
    let run = |at_once: usize| {
        edit_config(d.demo.config(), |c| {
            c["endpoint_url"] = proxy.endpoint.clone().into();
            c["archive_concurrency"] = at_once.into();
        });
        proxy
            .stats
            .max_in_flight
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let (code, checks) = d.json_any(&["verify", "--all"]);
        println!(
            "verify --all, {at_once} at once: {:.2} s",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(code, Some(0), "{checks}");
        let sessions: Vec<String> = checks
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["outcome"], "passed", "{c}");
                c["session_id"].as_str().unwrap().to_owned()
            })
            .collect();
        let most = proxy
            .stats
            .max_in_flight
            .load(std::sync::atomic::Ordering::Relaxed);
        (sessions, most)
    };
    let (one_by_one, most_alone) = run(1);
    let (together, most_together) = run(8);
    assert_eq!(one_by_one.len(), 12);
    assert_eq!(together, one_by_one, "the same reports, in the same order");
    // (A connection's last bytes may still be in the proxy as the next begins.)
    assert!(most_alone <= 2, "one archive at a time: {most_alone}");
    assert!(
        most_together >= 4,
        "several archives at once: {most_together}"
    );
    let bad = failure(
        &mut {
            edit_config(d.demo.config(), |c| c["archive_concurrency"] = 0.into());
            d.cmd(&["verify", "--all"])
        },
        2,
    );
    assert!(bad.contains("archive_concurrency"), "{bad}");
}
