//! `fitsbak lifecycle` and `fitsbak doctor` against moto_server.

use std::process::Command as Process;

use fitsbak_core::ids::ObjectKey;
use fitsbak_core::model::Tags;
use fitsbak_core::rules::{LifecycleRule, NoncurrentExpiration, RuleFilter, RuleStatus};
use fitsbak_core::store::PutOptions;
use fitsbak_core::store::prelude::*;

use crate::support::*;

fn aws(d: &S3Demo, args: &[&str]) -> std::process::Output {
    let aws = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/aws");
    assert!(
        aws.is_file(),
        "the AWS CLI is needed: run scripts/install-test-tools.sh"
    );
    let mut cmd = Process::new(aws);
    cmd.arg("--endpoint-url").arg(&d.server.endpoint).args(args);
    for (k, v) in d.server.child_env() {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn doctor(d: &S3Demo, args: &[&str]) -> (Option<i32>, Vec<(String, String, String)>) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let (code, v) = d.json_any(&all);
    let checks = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
                c["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (code, checks)
}

fn status_of<'a>(
    checks: &'a [(String, String, String)],
    name: &str,
) -> &'a (String, String, String) {
    checks
        .iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("no {name} check in {checks:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generated_json_is_accepted_by_the_aws_cli_and_reads_back_equal() {
    let d = S3Demo::new("lcgen", 1, 2, 10).await;
    let generated = stdout(&mut d.cmd(&["lifecycle", "generate"]));
    let file = d.demo.dir.path().join("lifecycle.json");
    std::fs::write(&file, &generated).unwrap();
    let bucket = d.store_bucket();
    let out = aws(
        &d,
        &[
            "s3api",
            "put-bucket-lifecycle-configuration",
            "--bucket",
            &bucket,
            "--lifecycle-configuration",
            &format!("file://{}", file.display()),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = stdout(&mut d.cmd(&["lifecycle", "show", "--json"]));
    let a: serde_json::Value = serde_json::from_str(&generated).unwrap();
    let b: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(a, b);
    // archive fast/normal/delayed/instant, backup deep-archive/flexible/instant,
    // the abort of incomplete multipart uploads.
    assert_eq!(a["Rules"].as_array().unwrap().len(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_keeps_a_foreign_rule_and_is_idempotent() {
    let d = S3Demo::new("lcapply", 1, 2, 10).await;
    let foreign = LifecycleRule {
        id: "expire-scratch".into(),
        status: RuleStatus::Enabled,
        filter: RuleFilter {
            prefix: Some("scratch/".into()),
            ..RuleFilter::default()
        },
        expiration: Some(fitsbak_core::rules::Expiration { days: 3 }),
        ..LifecycleRule::default()
    };
    d.store
        .put_lifecycle(std::slice::from_ref(&foreign))
        .await
        .unwrap();
    let (code, plan) = d.json_any(&["lifecycle", "apply", "--dry-run"]);
    assert_eq!(code, Some(0));
    assert_eq!(plan["added"].as_array().unwrap().len(), 8);
    assert_eq!(
        d.store.lifecycle().await.unwrap(),
        vec![foreign.clone()],
        "a dry run changes nothing"
    );

    let (code, plan) = d.json_any(&["lifecycle", "apply"]);
    assert_eq!(code, Some(0));
    assert_eq!(plan["kept"], serde_json::json!(["expire-scratch"]));
    let rules = d.store.lifecycle().await.unwrap();
    assert_eq!(rules.len(), 9);
    assert!(rules.contains(&foreign));

    let (_, again) = d.json_any(&["lifecycle", "apply"]);
    assert!(again["added"].as_array().unwrap().is_empty(), "{again}");
    assert!(again["replaced"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(again["unchanged"].as_array().unwrap().len(), 8);
    let text = stdout(&mut d.cmd(&["lifecycle", "apply"]));
    assert!(text.contains("nothing to change"), "{text}");
    assert_eq!(d.store.lifecycle().await.unwrap(), rules);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_a_bucket_set_up_by_apply_and_flags_what_is_wrong() {
    let d = S3Demo::new("doctor", 2, 2, 10).await;
    assert_eq!(d.json_any(&["upload"]).0, Some(0));

    let (code, checks) = doctor(&d, &[]);
    assert_eq!(code, Some(1), "no rules is a failure: {checks:?}");
    assert_eq!(status_of(&checks, "lifecycle").1, "fail");
    assert!(
        status_of(&checks, "lifecycle")
            .2
            .contains("no lifecycle rules")
    );

    assert_eq!(d.json_any(&["lifecycle", "apply"]).0, Some(0));
    let (code, checks) = doctor(&d, &[]);
    assert_eq!(code, Some(0), "{checks:?}");
    assert!(checks.iter().all(|c| c.1 != "fail"), "{checks:?}");
    assert_eq!(status_of(&checks, "access").1, "ok");
    assert_eq!(status_of(&checks, "lifecycle").1, "ok");
    assert_eq!(status_of(&checks, "tracked objects").1, "ok");
    assert_eq!(status_of(&checks, "region").1, "ok");

    // An archive whose tags no rule matches.
    let stranded = d.archive_key(0);
    let mut tags = Tags::new();
    tags.insert("archive".into(), "never".into());
    d.store
        .put_tags(&ObjectKey::new(stranded.clone()).unwrap(), &tags)
        .await
        .unwrap();
    // A rule deleting noncurrent versions after 30 days.
    let mut rules = d.store.lifecycle().await.unwrap();
    rules.push(LifecycleRule {
        id: "tidy-versions".into(),
        status: RuleStatus::Enabled,
        filter: RuleFilter {
            prefix: Some("backups/".into()),
            ..RuleFilter::default()
        },
        noncurrent_version_expiration: Some(NoncurrentExpiration {
            noncurrent_days: 30,
        }),
        ..LifecycleRule::default()
    });
    d.store.put_lifecycle(&rules).await.unwrap();
    // An incomplete multipart upload.
    let stale_key = ObjectKey::new("backups/raw/2020/abandoned.tar").unwrap();
    d.store
        .create_multipart(&stale_key, &PutOptions::default(), None)
        .await
        .unwrap();

    let (code, checks) = doctor(&d, &["--stale-days", "0"]);
    assert_eq!(code, Some(1), "{checks:?}");
    let tracked = status_of(&checks, "tracked objects");
    assert_eq!(tracked.1, "fail");
    assert!(
        tracked.2.contains(&stranded) && tracked.2.contains("archive=never"),
        "{tracked:?}"
    );
    let noncurrent = status_of(&checks, "noncurrent expiry");
    assert_eq!(noncurrent.1, "warn");
    assert!(
        noncurrent.2.contains("tidy-versions") && noncurrent.2.contains("30 days"),
        "{noncurrent:?}"
    );
    let stale = status_of(&checks, "stale uploads");
    assert_eq!(stale.1, "warn");
    assert!(stale.2.contains("abandoned.tar"), "{stale:?}");

    let (_, checks) = doctor(&d, &["--stale-days", "0", "--abort-stale"]);
    assert!(
        status_of(&checks, "stale uploads").2.contains("aborted 1"),
        "{checks:?}"
    );
    assert!(d.store.list_multipart_uploads("").await.unwrap().is_empty());

    let text = String::from_utf8(d.cmd(&["doctor"]).output().unwrap().stdout).unwrap();
    assert!(
        text.contains("FAIL  tracked objects") && text.contains("fix: "),
        "{text}"
    );
}

/// Other tools' rules go back to the bucket exactly as they came, with what the
/// core's model of a rule does not hold: a legacy rule-level prefix, a transition
/// on a date, NewerNoncurrentVersions, ExpiredObjectDeleteMarker.
#[tokio::test(flavor = "multi_thread")]
async fn apply_writes_other_tools_rules_back_exactly() {
    let d = S3Demo::new("lcexact", 1, 2, 10).await;
    let bucket = d.store_bucket();
    let foreign = serde_json::json!({"Rules": [
        {"ID": "legacy-prefix", "Status": "Enabled", "Prefix": "scratch/",
         "Expiration": {"Days": 3}},
        {"ID": "on-a-date", "Status": "Enabled", "Filter": {"Prefix": "old/"},
         "Transitions": [{"Date": "2030-01-01T00:00:00Z", "StorageClass": "GLACIER"}]},
        {"ID": "keep-two", "Status": "Enabled", "Filter": {"Prefix": "versions/"},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 2}},
        {"ID": "markers", "Status": "Enabled", "Filter": {"Prefix": "gone/"},
         "Expiration": {"ExpiredObjectDeleteMarker": true}}
    ]});
    let file = d.demo.dir.path().join("foreign.json");
    std::fs::write(&file, foreign.to_string()).unwrap();
    let put = aws(
        &d,
        &[
            "s3api",
            "put-bucket-lifecycle-configuration",
            "--bucket",
            &bucket,
            "--lifecycle-configuration",
            &format!("file://{}", file.display()),
        ],
    );
    assert!(put.status.success(), "{put:?}");
    let read = |d: &S3Demo| -> Vec<serde_json::Value> {
        let out = aws(
            d,
            &[
                "s3api",
                "get-bucket-lifecycle-configuration",
                "--bucket",
                &bucket,
            ],
        );
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["Rules"].as_array().unwrap().clone()
    };
    let before = read(&d);
    assert_eq!(before.len(), 4, "{before:?}");

    let (code, plan) = d.json_any(&["lifecycle", "apply"]);
    assert_eq!(code, Some(0), "{plan}");
    let after = read(&d);
    for rule in &before {
        assert!(
            after.contains(rule),
            "{} came back changed: {after:#?}",
            rule["ID"]
        );
    }
    assert_eq!(after.len(), 4 + 8, "fitsbak's eight rules beside them");
}
