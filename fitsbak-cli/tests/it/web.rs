//! `fitsbak serve` as its users meet it: a real server on a loopback port, asked
//! over HTTP the way the page, the cataloger's proxy and its Python page ask; and
//! the page itself in a real headless Chromium.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// A `fitsbak serve` process on a free loopback port, stopped with SIGTERM when
/// dropped.
struct Served {
    child: Option<Child>,
    base: String,
    stderr: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

impl Served {
    fn start(config: &std::path::Path, env: &[(&str, String)], args: &[&str]) -> Self {
        let mut cmd = Process::new(assert_cmd::cargo::cargo_bin("fitsbak"));
        cmd.arg("--config").arg(config).arg("serve");
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args)
            .env_remove("FITSBAK_CONFIG")
            .env_remove(fitsbak_cli::web::TOKEN_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("fitsbak serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap());
        let keep = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(rest.split('/').next().unwrap_or_default().to_owned());
                }
                let mut all = keep.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("fitsbak serve did not listen: {}", stderr.lock().unwrap()));
        let port = addr.rsplit(':').next().unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Self {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            stderr,
            agent,
        }
    }

    /// The demo's config, with the S3 server's credentials.
    fn on(d: &S3Demo) -> Self {
        Self::start(d.demo.config(), &d.server.child_env(), &[])
    }

    /// `method path` with `headers` and `body`: the status, the headers and the
    /// body (JSON when it is).
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, ureq::http::HeaderMap, Value) {
        let url = format!("{}{path}", self.base);
        let mut response = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            _ => {
                let mut r = self.agent.post(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                match body {
                    Some(b) => r.header("content-type", "application/json").send(b),
                    None => r.send_empty(),
                }
            }
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        assert!(status < 500, "{method} {path} answered {status}: {value}");
        (status, headers, value)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, v) = self.call("GET", path, &[], None);
        (s, v)
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, v) = self.call("POST", path, &[], Some(&body.to_string()));
        (s, v)
    }

    /// Waits for a task to end; its last state.
    fn finish(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let (status, task) = self.get(&format!("/api/backup/task/{id}"));
            assert_eq!(status, 200, "{task}");
            if !["running", "stopping"].contains(&task["state"].as_str().unwrap()) {
                return task;
            }
            assert!(Instant::now() < deadline, "task {id} did not end: {task}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts a task with `POST path body` and waits for it.
    fn run(&self, path: &str, body: Value) -> Value {
        let (status, started) = self.post(path, body);
        assert_eq!(status, 200, "{path}: {started}");
        assert_eq!(started["success"], true, "{started}");
        self.finish(started["task_id"].as_str().unwrap())
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, and the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        Process::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "fitsbak serve did not stop on SIGTERM: {}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Process::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ids(sessions: &Value) -> Vec<String> {
    sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_owned())
        .collect()
}

/// A demo on moto whose archives are written to Deep Archive, so that a restore
/// has something to cost.
async fn deep_demo(name: &str, sessions: usize) -> S3Demo {
    let d = S3Demo::new(name, sessions, 3, 60).await;
    edit_config(d.demo.config(), |c| {
        for rule in ["raw_lights", "raw_calibration"] {
            c["backup_rules"][rule]["storage_class"] = "DEEP_ARCHIVE".into();
        }
    });
    d
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_the_python_routes_and_runs_every_task() {
    let d = deep_demo("webapi", 3).await;
    let s = Served::on(&d);

    // The page and its assets, relative links only.
    let (status, headers, page) = s.call("GET", "/", &[], None);
    assert_eq!(status, 200);
    let page = page.as_str().unwrap().to_owned();
    assert!(page.contains(r#"src="app.js""#) && page.contains(r#"href="app.css""#));
    assert!(!page.contains("src=\"/") && !page.contains("href=\"/") && !page.contains("http"));
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let (status, headers, _) = s.call("GET", "/app.js", &[], None);
    assert_eq!(status, 200);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, _) = s.call("GET", "/app.js", &[("if-none-match", &etag)], None);
    assert_eq!(status, 304, "an unchanged asset is not sent again");

    // The Python service's status fields, before anything is backed up.
    let (status, st) = s.get("/api/status");
    assert_eq!(status, 200, "{st}");
    for key in [
        "total_sessions",
        "backed_up",
        "remaining",
        "progress_percentage",
        "total_files",
        "total_original_size",
        "total_compressed_size",
        "storage_classes",
        "bucket",
        "region",
        "enabled",
        "raw_images",
        "session_notes",
        "processed_output",
    ] {
        assert!(st.get(key).is_some(), "no {key} in {st}");
    }
    assert_eq!(st["total_sessions"], 3);
    assert_eq!(st["backed_up"], 0);
    assert_eq!(st["remaining"], 3);
    assert_eq!(st["bucket"], d.store_bucket());
    assert_eq!(st["fitsbak"]["categories"].as_array().unwrap().len(), 6);

    let (_, cats) = s.get("/api/storage-categories");
    let names: Vec<&str> = cats["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Imaging Sessions",
            "Imaging Session Notes",
            "Processing Session Notes",
            "Processing Sessions - Intermediate",
            "Processing Sessions - Final",
            "Database Backups"
        ]
    );
    let raw = &cats["categories"][0];
    assert_eq!(raw["local_files"], 3);
    assert_eq!(raw["local_not_in_s3"], 3);
    assert_eq!(raw["storage_class"], "Deep Archive");

    // Sessions: the Python list, newest first, with fitsbak's columns.
    let (_, all) = s.get("/api/sessions?limit=0");
    let list = all.as_array().unwrap();
    assert_eq!(list.len(), 3);
    let dates: Vec<&str> = list
        .iter()
        .map(|x| x["session_date"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
    for x in list {
        for key in [
            "session_id",
            "session_date",
            "camera",
            "telescope",
            "backed_up",
            "archive_size",
            "file_count",
            "uploaded_at",
            "verified",
            "storage_class",
        ] {
            assert!(x.get(key).is_some(), "no {key} in {x}");
        }
        assert_eq!(x["backed_up"], false);
    }
    let on_disk: u64 = list.iter().map(|x| x["size_bytes"].as_u64().unwrap()).sum();
    assert!(on_disk > 0);
    assert_eq!(raw["local_storage"], on_disk, "{raw}");
    let first = list[0]["session_id"].as_str().unwrap().to_owned();
    let year = list[0]["year"].as_i64().unwrap();
    let (_, one) = s.get("/api/sessions?limit=1");
    assert_eq!(ids(&one), [first.as_str()]);
    let (_, found) = s.get(&format!("/api/sessions?limit=0&search={}", &first[9..]));
    assert_eq!(ids(&found), [first.as_str()]);
    let (_, of_year) = s.get(&format!("/api/sessions?limit=0&year={year}"));
    assert!(
        of_year
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["year"] == year)
    );
    let (status, err) = s.get("/api/sessions?year=soon");
    assert_eq!(status, 400, "{err}");

    // Upload everything: a task with live numbers and the Python task fields.
    let task = s.run("/api/backup/raw-files", json!({}));
    assert_eq!(task["state"], "complete", "{task}");
    assert_eq!(task["status"], "complete");
    assert_eq!(task["progress"], 100.0);
    assert_eq!(task["category"], "Imaging Sessions");
    assert_eq!(task["result"]["uploaded"], 3, "{task}");
    assert!(task["completed_at"].is_string() && task["started_at"].is_string());
    assert_eq!(task["bytes_done"], task["bytes_total"], "{task}");
    let rows = task["rows"].as_array().unwrap();
    for id in ids(&all) {
        assert!(
            rows.iter()
                .any(|r| r["item"] == id && r["outcome"] == "done"),
            "{id} in {rows:?}"
        );
    }
    let (_, active) = s.get("/api/backup/tasks/active");
    assert_eq!(active, json!({ "active_tasks": {} }));

    // The table changed.
    let (_, all) = s.get("/api/sessions?limit=0");
    for x in all.as_array().unwrap() {
        assert_eq!(x["backed_up"], true, "{x}");
        assert_eq!(x["storage_class"], "DEEP_ARCHIVE", "{x}");
        assert!(x["archive_size"].as_u64().unwrap() > 0);
        assert!(x["uploaded_at"].is_string());
    }
    let (_, st) = s.get("/api/status");
    assert_eq!(st["backed_up"], 3);
    assert_eq!(st["storage_classes"]["DEEP_ARCHIVE"], 3, "{st}");

    // One session: members, manifest, log.
    let (status, detail) = s.get(&format!("/api/sessions/{first}"));
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        detail["members"].as_array().unwrap().len() as u64,
        detail["session"]["file_count"].as_u64().unwrap()
    );
    assert!(
        detail["archive"]["key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("backups/raw/{year}/{first}"))
    );
    assert_eq!(detail["manifest"]["manifest"]["session_id"], first.as_str());
    assert!(
        detail["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["operation"] == "upload" && l["status"] == "success")
    );
    let (status, err) = s.get("/api/sessions/20990101_ABCDEF12");
    assert_eq!(status, 404, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("not in the catalog")
    );
    let (status, _) = s.get("/api/sessions/no%20such%2Fid");
    assert_eq!(status, 400);

    // A quick check of every archive.
    let task = s.run("/api/verify", json!({}));
    assert_eq!(task["state"], "complete", "{task}");
    assert_eq!(task["result"]["passed"], 3, "{task}");

    // A restore: its cost and wait per tier first, then the request.
    let (status, plan) = s.get(&format!("/api/restore/estimate?session_id={first}"));
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["plan"]["archives"].as_array().unwrap().len(), 1);
    let tiers = plan["plan"]["tiers"].as_array().unwrap();
    let tier = |name: &str| tiers.iter().find(|t| t["tier"] == name).unwrap().clone();
    assert_eq!(tier("Bulk")["available"], true);
    assert!(
        tier("Standard")["wait"].as_str().unwrap().contains("12"),
        "{tiers:?}"
    );
    assert_eq!(
        tier("Expedited")["available"],
        false,
        "not for Deep Archive"
    );
    let (status, _) = s.get("/api/restore/estimate");
    assert_eq!(status, 400, "which archives must be said");
    let (status, err) = s.post(
        "/api/restore/request",
        json!({ "session_id": first, "tier": "Warp" }),
    );
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("unknown tier"));
    let task = s.run(
        "/api/restore/request",
        json!({ "session_id": first, "tier": "Bulk", "days": 2 }),
    );
    assert_eq!(task["state"], "complete", "{task}");
    assert_eq!(task["result"]["requested"], 1, "{task}");
    let (_, restores) = s.get(&format!("/api/restore/status?session_id={first}"));
    // moto makes the restored copy at once; AWS takes hours.
    assert!(
        ["in-progress", "available"].contains(&restores[0]["status"].as_str().unwrap()),
        "{restores}"
    );

    // Notes, processed finals, the catalog snapshot.
    let task = s.run("/api/backup/session-notes", json!({ "force": false }));
    assert_eq!(task["state"], "complete", "{task}");
    let task = s.run("/api/backup/processed-final", json!({}));
    assert_eq!(task["state"], "complete", "{task}");
    assert_eq!(
        task["result"]["uploaded"], 6,
        "4 finals, 2 processing notes: {task}"
    );
    let rows = task["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{task}");
    assert!(
        rows.iter()
            .all(|r| r["item"].as_str().unwrap().contains("_final."))
    );
    // The cataloger's other calls: one processing session's files, the temp space.
    let pid = d.demo.lib.processing[0].id.clone();
    let (status, ps) = s.get(&format!("/api/processing-session/{pid}/backup-status"));
    assert_eq!(status, 200, "{ps}");
    assert_eq!(
        ps["final"]["backed_up_files"], ps["final"]["total_files"],
        "{ps}"
    );
    assert_eq!(ps["final"]["is_complete"], true, "{ps}");
    assert!(
        ps["intermediate"]["total_files"].as_u64().unwrap() > 0,
        "{ps}"
    );
    assert_eq!(ps["intermediate"]["backed_up_files"], 0, "{ps}");
    let (status, up) = s.post(
        &format!("/api/processing-session/{pid}/backup-intermediate?force=false"),
        json!({}),
    );
    assert_eq!(status, 200, "{up}");
    assert_eq!(up["success"], true, "{up}");
    assert!(up["stats"]["uploaded"].as_u64().unwrap() > 0, "{up}");
    let (_, ps) = s.get(&format!("/api/processing-session/{pid}/backup-status"));
    assert_eq!(ps["intermediate"]["is_complete"], true, "{ps}");
    assert_eq!(ps["intermediate"]["backup_percentage"], 100.0, "{ps}");
    let (status, _) = s.get("/api/processing-session/20990101_NOPE00/backup-status");
    assert_eq!(status, 404);
    let (status, temp) = s.get("/api/temp-info");
    assert_eq!(status, 200, "{temp}");
    assert_eq!(temp["has_space"], true);
    assert!(temp["total"].as_u64().unwrap() > 0 && temp["free"].as_u64().unwrap() > 0);
    let largest = temp["largest_session_id"].as_str().unwrap();
    assert!(ids(&all).iter().any(|i| i == largest), "{temp}");

    let task = s.run(
        "/api/backup/database",
        json!({ "description": "from the page" }),
    );
    assert_eq!(task["state"], "complete", "{task}");
    assert_eq!(task["rows"].as_array().unwrap().len(), 1);

    // The page's numbers are the CLI's.
    let (_, cats) = s.get("/api/storage-categories");
    let final_files = &cats["categories"][4];
    assert_eq!(final_files["s3_files"], 4, "{final_files}");
    assert_eq!(cats["categories"][5]["s3_files"], 1);
    let (_, st) = s.get("/api/status");
    let cli = d.demo.json(&["status"]);
    assert_eq!(st["fitsbak"]["categories"], cli["categories"]);
    assert_eq!(
        st["fitsbak"]["sessions_backed_up"],
        cli["sessions_backed_up"]
    );

    // Every task is listed, newest first.
    let (_, tasks) = s.get("/api/tasks");
    let kinds: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "backup-db",
            "processed",
            "processed",
            "notes",
            "restore-request",
            "verify",
            "upload"
        ]
    );
    // The rest of the processing sessions, the costs, the doctor.
    let task = s.run("/api/backup/processed-intermediate", json!({}));
    assert_eq!(task["state"], "complete", "{task}");
    assert!(
        task["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["item"].as_str().unwrap().contains("_final."))
    );
    let task = s.run("/api/backup/processing-notes", json!({}));
    assert_eq!(task["state"], "complete", "{task}");
    assert_eq!(task["result"]["failed"], 0, "{task}");
    let (_, cats) = s.get("/api/storage-categories");
    for c in cats["categories"].as_array().unwrap() {
        assert_eq!(c["local_not_in_s3"], 0, "everything is backed up now: {c}");
    }
    let (status, costs) = s.get("/api/costs");
    assert_eq!(status, 200);
    assert_eq!(
        costs,
        serde_json::to_value(d.demo.json(&["estimate-costs"])).unwrap()
    );
    let (status, checks) = s.get("/api/doctor");
    assert_eq!(status, 200);
    assert_eq!(checks[0]["check"], "access", "{checks}");
    assert_eq!(checks[0]["status"], "ok", "{checks}");
    let (_, by_session) = s.get(&format!("/api/backup/session/{first}/status"));
    assert_eq!(by_session["has_active_task"], true);
    assert_eq!(by_session["status"], "complete");
}

#[test]
fn bad_requests_get_a_4xx_with_a_message_and_change_nothing() {
    let d = Demo::new();
    // A key that looks like a credential: ignored by the parser, never shown.
    edit_config(d.config(), |c| {
        c["aws_secret_access_key"] = "do-not-show-this-value".into();
    });
    let s = Served::start(d.config(), &[], &[]);

    let (status, _, err) = s.call("POST", "/api/backup/raw-files", &[], Some("{not json"));
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("not the JSON expected"),
        "{err}"
    );
    let (status, err) = s.post("/api/backup/raw-files", json!({ "forse": true }));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("forse"), "{err}");
    let (status, err) = s.post("/api/backup/raw-files", json!({ "limit": "all" }));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("limit"), "{err}");
    let big = format!("{{\"description\": \"{}\"}}", "x".repeat(100 * 1024));
    let (status, _, err) = s.call("POST", "/api/backup/database", &[], Some(&big));
    assert_eq!(status, 413, "{err}");
    assert!(err["error"].is_string(), "{err}");
    let (status, err) = s.post("/api/backup/session/20990101_ABCDEF12", json!({}));
    assert_eq!(status, 404, "{err}");
    let (status, _) = s.post("/api/backup/session/bad..id", json!({}));
    assert_eq!(status, 400);
    let (status, err) = s.get("/api/backup/task/no-such-task");
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("no-such-task"));
    let (status, err) = s.get("/api/nothing-here");
    assert_eq!(status, 404);
    assert!(err["detail"].is_string());
    let (status, _) = s.post("/api/verify", json!({ "deep": "yes" }));
    assert_eq!(status, 400);

    // A task that ended cannot be stopped.
    let task = s.run("/api/backup/raw-files", json!({}));
    assert_eq!(task["state"], "complete", "{task}");
    let (status, _) = s.post(
        &format!("/api/tasks/{}/stop", task["task_id"].as_str().unwrap()),
        json!({}),
    );
    assert_eq!(status, 409);

    // The config: every key but the credential, which is nowhere in the answer.
    let (status, _, raw) = s.call("GET", "/api/config", &[], None);
    assert_eq!(status, 200);
    assert!(!raw.to_string().contains("do-not-show-this-value"));
    let keys: Vec<&str> = raw["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"upload_settings.max_concurrency"),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.contains("secret")), "{keys:?}");

    // A bad value: 422, the error at its key, the file untouched.
    let before = std::fs::read(d.config()).unwrap();
    let (status, err) = s.post(
        "/api/config",
        json!({ "changes": { "upload_settings.max_concurrency": "many" } }),
    );
    assert_eq!(status, 422, "{err}");
    assert_eq!(
        err["errors"][0]["key"], "upload_settings.max_concurrency",
        "{err}"
    );
    assert_eq!(std::fs::read(d.config()).unwrap(), before);
    let (status, err) = s.post(
        "/api/config",
        json!({ "changes": { "upload_settings.max_concurrency": 0 } }),
    );
    assert_eq!(status, 422, "{err}");
    assert_eq!(
        err["errors"][0]["key"], "upload_settings.max_concurrency",
        "{err}"
    );
    let (status, err) = s.post(
        "/api/config",
        json!({ "changes": { "upload_settings.max_concurency": 4 } }),
    );
    assert_eq!(status, 422, "a typo is refused: {err}");
    assert!(
        err["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not a key")
    );
    let (status, err) = s.post(
        "/api/config",
        json!({ "changes": { "aws_access_key_id": "AKIA..." } }),
    );
    assert_eq!(status, 422, "{err}");
    assert!(
        err["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("credentials")
    );
    assert_eq!(std::fs::read(d.config()).unwrap(), before);
    let (_, checked) = s.post(
        "/api/config/validate",
        json!({ "changes": { "upload_settings.max_concurrency": -1 } }),
    );
    assert_eq!(checked["valid"], false);
    assert_eq!(
        checked["errors"][0]["key"],
        "upload_settings.max_concurrency"
    );
    let (_, checked) = s.post("/api/config/validate", json!({}));
    assert_eq!(checked["valid"], true, "{checked}");

    // A good value is written, the file's order kept, and the CLI reads it.
    let (status, ok) = s.post(
        "/api/config",
        json!({ "changes": { "upload_settings.max_concurrency": 3 } }),
    );
    assert_eq!(status, 200, "{ok}");
    let text = std::fs::read_to_string(d.config()).unwrap();
    assert!(text.trim_start().starts_with("{\n  \"_comment\""), "{text}");
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["upload_settings"]["max_concurrency"], 3);
    assert_eq!(
        value["aws_secret_access_key"], "do-not-show-this-value",
        "kept as it was"
    );
    assert!(d.json(&["status"])["sessions_total"].as_u64().unwrap() > 0);

    // The Python page's four fields still work.
    let (status, _) = s.post("/api/config", json!({ "bucket": "renamed-bucket" }));
    assert_eq!(status, 200);
    let (_, c) = s.get("/api/config");
    assert_eq!(c["bucket"], "renamed-bucket");

    // Turned off: the task fails with the words the CLI prints.
    let (_, toggled) = s.post("/api/toggle-enabled", json!({}));
    assert_eq!(toggled["enabled"], false);
    let task = s.run("/api/backup/raw-files", json!({ "force": true }));
    assert_eq!(task["state"], "error", "{task}");
    assert_eq!(task["status"], "error");
    let words = task["error"].as_str().unwrap();
    let cli = failure(&mut d.cmd(&["upload"]), 2);
    assert!(
        cli.contains(&format!("error: {words}")),
        "page: {words}\ncli: {cli}"
    );
}

#[test]
fn the_token_and_the_same_origin_check_guard_every_request() {
    let d = Demo::new();
    let token = "test-token-5d41402abc4b2a76b9719d911017c592".to_owned();
    let s = Served::start(
        d.config(),
        &[(fitsbak_cli::web::TOKEN_ENV, token.clone())],
        &[],
    );
    let bearer = format!("Bearer {token}");
    let (status, _, err) = s.call("GET", "/api/status", &[], None);
    assert_eq!(status, 401, "{err}");
    assert!(err["error"].as_str().unwrap().contains("token"));
    let (status, _, _) = s.call(
        "GET",
        "/api/status",
        &[("authorization", "Bearer wrong")],
        None,
    );
    assert_eq!(status, 401);
    let (status, _, _) = s.call("GET", "/", &[], None);
    assert_eq!(status, 401, "the page too");
    let (status, _, _) = s.call("GET", "/api/status", &[("authorization", &bearer)], None);
    assert_eq!(status, 200);
    let (status, _, _) = s.call("GET", "/api/status", &[("x-fitsbak-token", &token)], None);
    assert_eq!(status, 200);
    // The printed link sets a cookie the page's own requests carry.
    let (status, headers, _) = s.call("GET", &format!("/?token={token}"), &[], None);
    assert_eq!(status, 200);
    let cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let jar = cookie.split(';').next().unwrap().to_owned();
    let (status, _, _) = s.call("GET", "/api/status", &[("cookie", &jar)], None);
    assert_eq!(status, 200);

    // State changes from another site are refused, whatever cookie they carry.
    let host = s.base.trim_start_matches("http://").to_owned();
    let same = format!("http://{host}");
    let (status, _, err) = s.call(
        "POST",
        "/api/toggle-enabled",
        &[("cookie", &jar), ("sec-fetch-site", "cross-site")],
        None,
    );
    assert_eq!(status, 403, "{err}");
    let (status, _, _) = s.call(
        "POST",
        "/api/toggle-enabled",
        &[("cookie", &jar), ("origin", "http://evil.example")],
        None,
    );
    assert_eq!(status, 403);
    let value = |k: &str| -> Value {
        serde_json::from_str::<Value>(&std::fs::read_to_string(d.config()).unwrap()).unwrap()[k]
            .clone()
    };
    assert_eq!(value("enabled"), true, "nothing changed");
    let (status, _, _) = s.call(
        "POST",
        "/api/toggle-enabled",
        &[
            ("cookie", &jar),
            ("origin", &same),
            ("sec-fetch-site", "same-origin"),
        ],
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(value("enabled"), false);
    // A script with the token in a header needs no browser signals.
    let (status, headers, _) = s.call(
        "POST",
        "/api/toggle-enabled",
        &[
            ("authorization", &bearer),
            ("origin", "http://evil.example"),
        ],
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(value("enabled"), true);
    assert!(
        headers.get("access-control-allow-origin").is_none(),
        "no CORS"
    );

    // Without a token, on loopback: the same-origin check still holds.
    let open = Served::start(d.config(), &[], &[]);
    let (status, _, _) = open.call(
        "POST",
        "/api/toggle-enabled",
        &[("sec-fetch-site", "cross-site")],
        None,
    );
    assert_eq!(status, 403);
    let (status, headers, _) = open.call(
        "GET",
        "/api/status",
        &[("origin", "http://evil.example")],
        None,
    );
    assert_eq!(status, 200);
    assert!(
        headers.get("access-control-allow-origin").is_none(),
        "no CORS"
    );

    // Any other address: a token is made, printed once, and required.
    let wide = Served::start(d.config(), &[], &["--listen", "0.0.0.0:0"]);
    let printed = wide.stderr.lock().unwrap().clone();
    let made = printed
        .lines()
        .find_map(|l| l.split("?token=").nth(1))
        .unwrap_or_else(|| panic!("no token printed: {printed}"))
        .trim()
        .to_owned();
    assert_eq!(made.len(), 64, "{printed}");
    let (status, _, _) = wide.call("GET", "/api/status", &[], None);
    assert_eq!(status, 401);
    let (status, _, _) = wide.call("GET", "/api/status", &[("x-fitsbak-token", &made)], None);
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_write_at_a_time_with_the_cli_and_sigterm_stops_tasks_resumably() {
    let d = S3Demo::new("weblock", 2, 4, 1500).await;
    let proxy = fitsbak_testkit::proxy::FaultProxy::start(d.server.port, 0, Duration::from_secs(3));
    edit_config(d.demo.config(), |c| {
        c["endpoint_url"] = proxy.endpoint.clone().into();
        c["upload_settings"]["max_concurrency"] = 1.into();
    });
    proxy.set_delay(Duration::from_millis(250));
    let mut s = Served::on(&d);

    // A CLI upload holds the lock: the page's upload is refused, naming it.
    let cli = spawn(&d, &["--json", "upload"], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.stats.requests().values().sum::<u64>() == 0 {
        assert!(
            Instant::now() < deadline,
            "the CLI upload never reached the store"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, refused) = s.post("/api/backup/raw-files", json!({}));
    assert_eq!(status, 409, "{refused}");
    let words = refused["error"].as_str().unwrap();
    assert!(
        words.contains("another fitsbak run") && words.contains(&format!("pid {}", cli.id())),
        "{words}"
    );
    Process::new("kill")
        .args(["-INT", &cli.id().to_string()])
        .status()
        .unwrap();
    let out = cli.wait_with_output().unwrap();
    assert!(matches!(out.status.code(), Some(130) | Some(0)), "{out:?}");

    // The page's upload holds it now: a CLI upload is refused with exit 75.
    let (status, started) = s.post("/api/backup/raw-files", json!({}));
    assert_eq!(status, 200, "{started}");
    let id = started["task_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, t) = s.get(&format!("/api/backup/task/{id}"));
        if t["bytes_done"].as_u64().unwrap() > 0 {
            break;
        }
        assert_eq!(t["state"], "running", "{t}");
        assert!(Instant::now() < deadline, "no bytes moved: {t}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = d.cmd(&["upload"]).output().unwrap();
    assert_eq!(out.status.code(), Some(75));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(fitsbak serve)") && err.contains(&format!("pid {}", s.pid())),
        "{err}"
    );

    // And a second task of the page's own waits its turn the same way.
    let (status, err) = s.post("/api/verify", json!({}));
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("`upload (fitsbak serve)`"),
        "{err}"
    );

    // SIGTERM: the task stops between parts; nothing half-recorded.
    let status = s.terminate();
    assert!(status.success(), "{status:?}: {}", s.stderr.lock().unwrap());
    assert!(s.stderr.lock().unwrap().contains("stopping"));

    // The next run resumes what was sent and finishes.
    proxy.set_delay(Duration::ZERO);
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let (code, v) = d.json_any(&["verify", "--all", "--deep"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(d.demo.json(&["status"])["sessions_backed_up"], 2);

    // The Stop button does what Ctrl-C does, and the next task resumes.
    proxy.set_delay(Duration::from_millis(250));
    let s = Served::on(&d);
    let (status, started) = s.post("/api/backup/raw-files", json!({ "force": true }));
    assert_eq!(status, 200, "{started}");
    let id = started["task_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.get(&format!("/api/backup/task/{id}")).1["bytes_done"]
        .as_u64()
        .unwrap()
        == 0
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, stopping) = s.post(&format!("/api/tasks/{id}/stop"), json!({}));
    assert_eq!(status, 200, "{stopping}");
    let stopped = s.finish(&id);
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    proxy.set_delay(Duration::ZERO);
    let again = s.run("/api/backup/raw-files", json!({ "force": true }));
    assert_eq!(again["state"], "complete", "{again}");
    assert!(
        again["bytes_resumed"].as_u64().unwrap() > 0,
        "the stopped upload was resumed: {again}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_router_mounts_under_a_prefix_in_another_program() {
    let d = Demo::new();
    let global = fitsbak_cli::GlobalArgs::with_config(d.config());
    let app = fitsbak_cli::web::WebApp::new(global, None);
    let router =
        axum::Router::new().nest_service("/s3-backup", fitsbak_cli::web::router(app.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let base = format!("http://127.0.0.1:{port}/s3-backup");
    let sessions = d.json(&["status"])["sessions_total"].clone();
    let got = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let bare = agent.get(&base).call().unwrap();
        let location = bare.headers()["location"].to_str().unwrap().to_owned();
        let page = agent
            .get(&format!("{base}/"))
            .call()
            .unwrap()
            .status()
            .as_u16();
        let mut status = agent.get(&format!("{base}/api/status")).call().unwrap();
        let body: Value =
            serde_json::from_str(&status.body_mut().read_to_string().unwrap()).unwrap();
        (bare.status().as_u16(), location, page, body)
    })
    .await
    .unwrap();
    assert_eq!(got.0, 308);
    assert_eq!(got.1, "/s3-backup/");
    assert_eq!(got.2, 200);
    assert_eq!(got.3["total_sessions"], sessions);
    app.stop_tasks().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_in_a_real_browser() {
    for tool in ["chromium", "chromedriver"] {
        assert!(
            fitsbak_testkit::on_path(tool).is_some(),
            "{tool} is needed by this test and is not installed: run \
             scripts/install-test-tools.sh (Debian's chromium and chromium-driver)"
        );
    }
    let python = fitsbak_testkit::workspace_root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is needed (selenium): run scripts/install-test-tools.sh",
        python.display()
    );
    let d = deep_demo("webpage", 4).await;
    let s = Served::on(&d);
    let (_, sessions) = s.get("/api/sessions?limit=0");
    let session = ids(&sessions)[1].clone();
    let shots = fitsbak_testkit::workspace_root().join("target/screenshots");
    let script = fitsbak_testkit::workspace_root().join("fitsbak-cli/tests/it/py/browser.py");
    let out = Process::new(&python)
        .arg(&script)
        .arg("test")
        .arg(format!("{}/", s.base))
        .arg(&shots)
        .arg(&session)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser walk failed:\n{text}");
    assert!(text.contains("browser walk passed"), "{text}");
    for name in [
        "dashboard-desktop",
        "upload-done-desktop",
        "sessions-desktop",
        "session-restore-desktop",
        "restore-desktop",
        "tasks-desktop",
        "config-error-desktop",
        "dashboard-phone",
        "sessions-phone",
        "session-phone",
        "config-phone",
    ] {
        let path = shots.join(format!("{name}.png"));
        let size = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert!(size > 10_000, "{} is {size} bytes", path.display());
    }
}

#[test]
fn an_upload_from_the_page_sends_the_run_report_a_cli_upload_sends() {
    let d = Demo::new();
    let lost = &d.lib.sessions[2];
    std::fs::remove_file(&lost.files[0].path).unwrap();
    let (port, hook) = http_receiver();
    edit_config(d.config(), |c| {
        c["notifications"]["webhook_url"] = format!("http://127.0.0.1:{port}/hook").into();
        c["notifications"]["webhook_on_error"] = true.into();
    });
    let s = Served::start(d.config(), &[], &[]);
    let task = s.run("/api/backup/raw-files", json!({}));
    assert_eq!(task["state"], "failed", "{task}");
    let failed: Vec<&Value> = task["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{task}");
    assert_eq!(failed[0]["item"], lost.id.as_str());
    let (request, body) = hook.join().unwrap();
    assert!(request.starts_with("POST /hook"), "{request}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["command"], "upload", "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert!(
        report["failures"][0].as_str().unwrap().contains(&lost.id),
        "{report}"
    );
}
