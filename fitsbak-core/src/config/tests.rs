//! The config's tests: the original format, the template, errors with their
//! positions, path resolution, the key layout.

use super::*;
use crate::ids::SessionId;
use crate::model::StorageClass;

/// The original template's file, as its setup script writes it.
const ORIGINAL: &str = r#"{
  "enabled": true,
  "aws_region": "ca-west-1",

  "buckets": {
"primary": "astro-backup-1234",
"backup": null
  },

  "s3_paths": {
"raw_archives": "backups/raw",
"session_notes": "backups/sessions",
"processing_notes": "backups/processing",
"final_outputs": "backups/final",
"database_backups": "backups/database"
  },

  "backup_rules": {
"raw_lights": {
  "archive_policy": "fast",
  "backup_policy": "deep",
  "archive_days": 7,
  "storage_class": "STANDARD"
},
"raw_calibration": {
  "archive_policy": "fast",
  "backup_policy": "deep",
  "archive_days": 7,
  "storage_class": "STANDARD"
},
"imaging_sessions": {
  "archive_policy": "standard",
  "backup_policy": "deep",
  "archive_days": 30,
  "storage_class": "STANDARD"
},
"processing_sessions": {
  "archive_policy": "delayed",
  "backup_policy": "flexible",
  "archive_days": 90,
  "storage_class": "STANDARD"
}
  },

  "upload_settings": {
"multipart_threshold_mb": 100,
"multipart_chunksize_mb": 25,
"max_concurrency": 4,
"use_threads": true,
"max_bandwidth_mbps": null
  },

  "restore_settings": {
"default_tier": "Standard",
"default_days": 7,
"restore_path": "/path/to/restore"
  },

  "archive_settings": {
"compression_level": 0,
"use_pigz": false,
"verify_after_upload": true,
"keep_archive_index": true,
"max_archive_size_gb": 50,
"temp_dir": ".tmp/backup_archives"
  },

  "retry_settings": {
"max_retries": 3,
"initial_backoff_seconds": 2,
"max_backoff_seconds": 60,
"backoff_multiplier": 2
  },

  "logging": {
"log_uploads": true,
"log_verifications": true,
"log_restores": true,
"verbose": false
  },

  "cost_tracking": {
"track_costs": true,
"storage_cost_per_gb_per_month": {
  "STANDARD": 0.023,
  "STANDARD_IA": 0.013,
  "GLACIER_IR": 0.004,
  "GLACIER_FLEXIBLE": 0.004,
  "DEEP_ARCHIVE": 0.00099
},
"data_transfer_cost_per_gb": {
  "upload": 0.0,
  "download": 0.09
}
  },

  "notifications": {
"email_on_complete": false,
"email_address": null,
"email_on_error": true
  }
}"#;

fn parse(text: &str) -> Result<LoadedConfig, ConfigError> {
    Config::parse(text, Path::new("s3_config.json"))
}

#[test]
fn the_original_format_reads_as_is() {
    let loaded = parse(ORIGINAL).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert!(c.enabled);
    assert_eq!(c.aws_region, "ca-west-1");
    assert_eq!(c.bucket().unwrap(), "astro-backup-1234");
    assert_eq!(c.target, TargetKind::S3, "an original file means S3");
    assert_eq!(c.s3_paths.raw_archives, "backups/raw");
    assert_eq!(c.s3_paths.manifests, "backups/manifests", "a default");
    assert_eq!(c.backup_rules.imaging_sessions.archive_policy, "standard");
    assert_eq!(c.backup_rules.processing_sessions.archive_days, 90);
    assert_eq!(c.upload_settings.multipart_chunksize_mb, 25.0);
    assert_eq!(c.upload_settings.max_concurrency, 4);
    assert_eq!(c.upload_settings.max_bandwidth_mbps, None);
    assert_eq!(
        c.restore_settings.restore_path.as_deref(),
        Some(Path::new("/path/to/restore"))
    );
    assert_eq!(c.retry_settings.backoff_multiplier, 2.0);
    assert_eq!(
        c.cost_tracking.storage_price(&StorageClass::Glacier),
        0.004,
        "GLACIER is priced by the GLACIER_FLEXIBLE key"
    );
    assert_eq!(c.cost_tracking.data_transfer_cost_per_gb.download, 0.09);
    assert!(c.notifications.email_on_error);
}

#[test]
fn the_template_is_valid_and_uses_the_local_target() {
    let loaded = parse(Config::template()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.target, TargetKind::Local);
    let defaults = Config {
        target: TargetKind::Local,
        buckets: Buckets {
            primary: Some("your-bucket-name".into()),
            backup: None,
        },
        aws_region_set: true,
        database_path_set: true,
        ..Config::default()
    };
    assert_eq!(loaded.config, defaults, "the template states the defaults");
    assert!(
        loaded.config.bucket().is_err(),
        "the placeholder is no bucket"
    );
}

#[test]
fn an_empty_object_takes_every_default() {
    let c = parse("{}").unwrap().config;
    assert_eq!(c, Config::default());
    let err = c.bucket().unwrap_err().to_string();
    assert!(err.contains("buckets.primary"), "{err}");
}

#[test]
fn comments_are_silent_and_unknown_keys_warn() {
    let loaded =
        parse(r#"{"_note": "x", "upload_settings": {"_c": 1, "turbo": true}, "colour": "red"}"#)
            .unwrap();
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("upload_settings.turbo"))
    );
    assert!(loaded.warnings.iter().any(|w| w.contains("`colour`")));
}

#[test]
fn credentials_in_the_file_are_ignored_and_never_echoed() {
    let loaded = parse(
        r#"{"aws_access_key_id": "AKIAEXAMPLEKEY", "aws_secret_access_key": "s3cr3t-Value"}"#,
    )
    .unwrap();
    assert_eq!(loaded.warnings.len(), 2);
    for w in &loaded.warnings {
        assert!(w.contains("credentials are never read"), "{w}");
        assert!(!w.contains("AKIAEXAMPLEKEY") && !w.contains("s3cr3t-Value"));
    }
}

#[test]
fn bad_json_names_file_line_and_column() {
    let err = parse("{\n  \"enabled\": true,\n  \"aws_region\": \n}").unwrap_err();
    match &err {
        ConfigError::Syntax { line, column, .. } => assert_eq!((*line, *column), (4, 1)),
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("s3_config.json:4:1: not valid JSON"),
        "{text}"
    );
    assert!(matches!(
        parse("not json").unwrap_err(),
        ConfigError::Syntax { line: 1, .. }
    ));
    assert!(matches!(
        parse("{} trailing").unwrap_err(),
        ConfigError::Syntax { .. }
    ));
}

#[test]
fn a_wrong_type_names_the_key_path() {
    let err =
        parse("{\n \"upload_settings\": {\n  \"max_concurrency\": \"four\"\n }\n}").unwrap_err();
    let text = err.to_string();
    match err {
        ConfigError::WrongType { key, line, .. } => {
            assert_eq!(key, "upload_settings.max_concurrency");
            assert_eq!(line, 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("`upload_settings.max_concurrency`"), "{text}");
    assert!(text.contains("invalid type: string \"four\""), "{text}");

    let err = parse(r#"{"backup_rules": {"raw_lights": {"archive_days": -1}}}"#).unwrap_err();
    assert!(
        err.to_string()
            .contains("`backup_rules.raw_lights.archive_days`"),
        "{err}"
    );
    let err = parse(r#"{"enabled": "yes"}"#).unwrap_err();
    assert!(err.to_string().contains("`enabled`"), "{err}");
}

#[test]
fn unusable_values_name_the_key_and_its_line() {
    let err = parse("{\n \"upload_settings\": {\n  \"max_concurrency\": 0\n }\n}").unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text,
        "s3_config.json:3:3: `upload_settings.max_concurrency`: must be at least 1"
    );
    for (json, key) in [
        (
            r#"{"upload_settings": {"multipart_chunksize_mb": 0}}"#,
            "multipart_chunksize_mb",
        ),
        (
            r#"{"upload_settings": {"max_bandwidth_mbps": -5}}"#,
            "max_bandwidth_mbps",
        ),
        (
            r#"{"buckets": {"primary": "Bad_Bucket"}}"#,
            "buckets.primary",
        ),
        (r#"{"s3_paths": {"raw_archives": "a//b"}}"#, "raw_archives"),
        (r#"{"endpoint_url": "localhost:9000"}"#, "endpoint_url"),
        (r#"{"aws_region": " "}"#, "aws_region"),
        (r#"{"target": "ftp"}"#, "target"),
    ] {
        let err = parse(json).unwrap_err().to_string();
        assert!(err.contains(key), "{json}: {err}");
    }
}

#[test]
fn locate_key_follows_nesting_not_first_match() {
    let text =
        "{\n \"a\": {\"max\": 1},\n \"b\": {\n   \"max\": 2,\n   \"list\": [{\"max\": 3}]\n }\n}";
    assert_eq!(locate_key(text, "b.max"), Some((4, 4)));
    assert_eq!(locate_key(text, "a.max"), Some((2, 8)));
    assert_eq!(locate_key(text, "max"), None);
    assert_eq!(locate_key(text, "b.missing"), None);
}

#[test]
fn paths_resolve_against_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3_config.json");
    std::fs::write(
        &path,
        r#"{"database_path": "db/catalog.db", "local_root": "/abs/store"}"#,
    )
    .unwrap();
    let c = Config::load(&path).unwrap().config;
    assert_eq!(c.database(), dir.path().join("db/catalog.db"));
    assert_eq!(c.tracking_database(), c.database());
    assert_eq!(c.local_root(), PathBuf::from("/abs/store"));
    assert!(matches!(
        Config::load(&dir.path().join("missing.json")),
        Err(ConfigError::NotFound { .. })
    ));
}

#[test]
fn write_template_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3_config.json");
    Config::write_template(&path, false).unwrap();
    std::fs::write(&path, "{\"aws_region\": \"eu-west-1\"}").unwrap();
    assert!(matches!(
        Config::write_template(&path, false),
        Err(ConfigError::Exists { .. })
    ));
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("eu-west-1")
    );
    Config::write_template(&path, true).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), Config::template());
}

#[test]
fn archive_and_manifest_keys_follow_the_layout() {
    let paths = S3Paths::default();
    let s = SessionId::new("20240315_A7B3C2D1").unwrap();
    assert_eq!(
        paths.archive_key(2024, &s).unwrap().as_str(),
        "backups/raw/2024/20240315_A7B3C2D1.tar"
    );
    assert_eq!(
        paths.manifest_key(2024, &s).unwrap().as_str(),
        "backups/manifests/2024/20240315_A7B3C2D1.json"
    );
}

#[test]
fn a_config_without_aws_region_leaves_it_to_the_profile() {
    let path = std::path::Path::new("s3_config.json");
    let without = Config::parse(r#"{"buckets": {"primary": "b-1"}}"#, path).unwrap();
    assert!(!without.config.aws_region_set);
    let with = Config::parse(r#"{"aws_region": "eu-west-2"}"#, path).unwrap();
    assert!(with.config.aws_region_set);
    assert_eq!(with.config.aws_region, "eu-west-2");
}

/// The cataloger's own `s3_backup/s3_config.json.template` (smartc/astro_cat, MIT),
/// byte for byte: `_comment` keys at every depth, even among the prices.
const CATALOGER_TEMPLATE: &str = include_str!("testdata/cataloger_s3_config.json");

#[test]
fn the_catalogers_own_template_reads_with_comments_at_every_depth() {
    let loaded = parse(CATALOGER_TEMPLATE).unwrap();
    assert!(
        loaded.warnings.iter().all(|w| !w.contains("_comment")),
        "{:?}",
        loaded.warnings
    );
    let c = loaded.config;
    assert_eq!(c.aws_region, "ca-west-1");
    assert_eq!(
        c.cost_tracking.storage_cost_per_gb_per_month["DEEP_ARCHIVE"],
        0.0018
    );
    assert_eq!(c.backup_rules.raw_lights.archive_policy, "fast");
    // A comment deep inside still leaves the real keys checked.
    let err = parse(r#"{"cost_tracking": {"storage_cost_per_gb_per_month": {"_note": "x", "STANDARD": "cheap"}}}"#)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("storage_cost_per_gb_per_month.STANDARD"),
        "{err}"
    );
    assert!(err.to_string().starts_with("s3_config.json:1:"), "{err}");
}

#[test]
fn the_catalogers_config_json_gives_the_database_and_notes_paths() {
    let dir = tempfile::tempdir().unwrap();
    let astro = dir.path().join("astro");
    std::fs::create_dir_all(&astro).unwrap();
    std::fs::write(
        astro.join("config.json"),
        r#"{"_comment": "the cataloger's", "paths": {"database_path": "/data/fits_catalog.db",
            "notes_dir": "Session_Notes", "image_dir": "/data/Images"}, "timezone_offset": 0}"#,
    )
    .unwrap();
    std::fs::write(astro.join("s3_config.json"), r#"{"enabled": true}"#).unwrap();
    let c = Config::load(&astro.join("s3_config.json")).unwrap().config;
    assert_eq!(c.database(), Path::new("/data/fits_catalog.db"));
    assert_eq!(
        c.notes_dir().unwrap(),
        std::path::absolute(&astro).unwrap().join("Session_Notes")
    );
    assert_eq!(
        c.catalog_paths_from.as_deref(),
        Some(astro.join("config.json").as_path())
    );

    // What s3_config.json sets wins.
    std::fs::write(
        astro.join("s3_config.json"),
        r#"{"database_path": "mine.db"}"#,
    )
    .unwrap();
    let c = Config::load(&astro.join("s3_config.json")).unwrap().config;
    assert!(
        c.database().ends_with("astro/mine.db"),
        "{}",
        c.database().display()
    );
    assert!(c.notes_dir().unwrap().ends_with("Session_Notes"));

    // Named elsewhere, by key or flag; a named file that is missing is an error.
    let other = dir.path().join("elsewhere.json");
    std::fs::write(&other, r#"{"paths": {"database_path": "/srv/cat.db"}}"#).unwrap();
    std::fs::write(astro.join("s3_config.json"), "{}").unwrap();
    let c = Config::load_with(&astro.join("s3_config.json"), Some(&other))
        .unwrap()
        .config;
    assert_eq!(c.database(), Path::new("/srv/cat.db"));
    let missing = dir.path().join("nope.json");
    let err = Config::load_with(&astro.join("s3_config.json"), Some(&missing)).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }), "{err}");
    std::fs::write(&other, r#"{"paths": {"database_path": 5}}"#).unwrap();
    std::fs::write(
        astro.join("s3_config.json"),
        format!(
            r#"{{"catalog_config_path": {:?}}}"#,
            other.display().to_string()
        ),
    )
    .unwrap();
    let err = Config::load(&astro.join("s3_config.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("elsewhere.json") && err.contains("paths.database_path"),
        "{err}"
    );
}
