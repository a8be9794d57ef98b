//! `fitsbak list-sessions`, for people.

use fitsbak_core::engine::list_sessions::SessionList;

use crate::output::{count, human_bytes, table};

/// Prints one row per session and a count.
pub fn print(list: &SessionList) {
    let mut t = table(
        &[
            "Session",
            "Date",
            "Files",
            "Size",
            "Backed up",
            "Storage class",
        ],
        &[2, 3],
    );
    for r in &list.sessions {
        let backed_up = match (r.backed_up, r.verified) {
            (true, _) if r.changed_since_backup => "yes, changed since backup".to_owned(),
            (true, true) => "yes, verified".to_owned(),
            (true, false) => "yes".to_owned(),
            (false, _) if r.missing_files > 0 => format!("no ({} missing)", r.missing_files),
            (false, _) => "no".to_owned(),
        };
        t.add_row(vec![
            r.session_id.to_string(),
            r.date.clone(),
            count(r.file_count),
            human_bytes(r.size_bytes),
            backed_up,
            r.storage_class.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if !list.sessions.is_empty() {
        println!("{}", t.trim_fmt());
    }
    let backed = list.sessions.iter().filter(|r| r.backed_up).count() as u64;
    let changed = list
        .sessions
        .iter()
        .filter(|r| r.changed_since_backup)
        .count() as u64;
    println!(
        "{} session(s), {} backed up{}, {} not",
        count(list.sessions.len() as u64),
        count(backed),
        if changed > 0 {
            format!(" ({} changed since backup)", count(changed))
        } else {
            String::new()
        },
        count(list.sessions.len() as u64 - backed)
    );
}
