//! Built-in functions whose call changes a statement's class, wherever the call appears.
//!
//! Names are compared on the last component of the (possibly schema-qualified) name, ASCII
//! case-insensitively: `pg_catalog.pg_terminate_backend`, `"pg_terminate_backend"` and
//! `myschema.PG_TERMINATE_BACKEND` all match. A same-named function in another schema is
//! treated like the built-in one on purpose.

use crate::Class;

/// Signals other sessions, reloads configuration, touches the server's file system, reaches
/// other servers, or runs SQL that is given as text (and so escapes classification).
const DANGEROUS: &[(&str, &str)] = &[
    ("pg_terminate_backend", ""),
    ("pg_cancel_backend", ""),
    ("pg_reload_conf", ""),
    ("pg_rotate_logfile", ""),
    ("pg_rotate_logfile_old", ""),
    ("lo_import", " (server file system)"),
    ("lo_export", " (server file system)"),
    ("pg_read_file", " (server file system)"),
    ("pg_read_binary_file", " (server file system)"),
    ("pg_stat_file", " (server file system)"),
    ("pg_logdir_ls", " (server file system)"),
    ("query_to_xml", " (runs SQL given as text)"),
    ("query_to_xmlschema", " (runs SQL given as text)"),
    ("query_to_xml_and_xmlschema", " (runs SQL given as text)"),
    ("ts_stat", " (runs SQL given as text)"),
    ("table_to_xml", " (reads a table named in text)"),
    ("table_to_xmlschema", " (reads a table named in text)"),
    (
        "table_to_xml_and_xmlschema",
        " (reads a table named in text)",
    ),
    ("schema_to_xml", " (reads tables named in text)"),
    ("schema_to_xmlschema", " (reads tables named in text)"),
    (
        "schema_to_xml_and_xmlschema",
        " (reads tables named in text)",
    ),
    ("database_to_xml", " (reads every table)"),
    ("database_to_xmlschema", " (reads every table)"),
    ("database_to_xml_and_xmlschema", " (reads every table)"),
];

/// Prefixes of dangerous families: dblink (other servers), `pg_ls_*` (directory listings),
/// adminpack's `pg_file_*` (file writes).
const DANGEROUS_PREFIX: &[(&str, &str)] = &[
    ("dblink", " (connects to another server)"),
    ("pg_ls_", " (server file system)"),
    ("pg_file_", " (server file system)"),
];

/// Replication, backup, WAL and statistics control.
const ADMIN: &[&str] = &[
    "pg_promote",
    "pg_switch_wal",
    "pg_create_restore_point",
    "pg_backup_start",
    "pg_backup_stop",
    "pg_start_backup",
    "pg_stop_backup",
    "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot",
    "pg_drop_replication_slot",
    "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot",
    "pg_replication_slot_advance",
    "pg_sync_replication_slots",
    "pg_log_backend_memory_contexts",
    "pg_import_system_collations",
];

const ADMIN_PREFIX: &[&str] = &[
    "pg_stat_reset",
    "pg_replication_origin_",
    "pg_logical_slot_",
    "pg_wal_replay_",
];

/// Functions that change data outside a table row (sequences, large objects, WAL messages).
/// `nextval` stays a read on purpose: it is part of ordinary INSERT defaults and reads.
const WRITE: &[&str] = &[
    "setval",
    "lo_create",
    "lo_creat",
    "lo_unlink",
    "lo_put",
    "lo_from_bytea",
    "lowrite",
    "lo_truncate",
    "lo_truncate64",
    "pg_logical_emit_message",
];

/// Settings that `set_config` must not change: they switch the session's identity.
const IDENTITY_SETTINGS: &[&str] = &["role", "session_authorization"];

/// What a call of `name` (the last name component) does to the class, with a reason.
/// `first_arg` is the first argument when it is a string constant (only consulted for
/// `set_config`); `None` means absent or computed.
pub(crate) fn call_effect(name: &str, first_arg: Option<&str>) -> Option<(Class, String)> {
    let lower = name.to_ascii_lowercase();
    let n = lower.as_str();
    if n == "set_config" {
        return match first_arg {
            Some(setting) => {
                let s = setting.trim().to_ascii_lowercase();
                IDENTITY_SETTINGS
                    .contains(&s.as_str())
                    .then(|| (Class::Dangerous, format!("calls set_config('{s}')")))
            }
            None => Some((
                Class::Dangerous,
                "calls set_config with a computed setting name".to_owned(),
            )),
        };
    }
    if let Some((f, note)) = DANGEROUS.iter().find(|(f, _)| *f == n) {
        return Some((Class::Dangerous, format!("calls {f}{note}")));
    }
    if let Some((_, note)) = DANGEROUS_PREFIX.iter().find(|(p, _)| n.starts_with(p)) {
        return Some((Class::Dangerous, format!("calls {n}{note}")));
    }
    if ADMIN.contains(&n) || ADMIN_PREFIX.iter().any(|p| n.starts_with(p)) {
        return Some((Class::Admin, format!("calls {n}")));
    }
    if WRITE.contains(&n) {
        return Some((Class::Write, format!("calls {n}")));
    }
    None
}

/// Members of the dangerous prefix families that take one argument, and so can also be called
/// with attribute notation: `('/etc/passwd'::text).pg_read_file` is `pg_read_file('/etc/passwd')`.
const ONE_ARGUMENT_FAMILY: &[&str] = &[
    "dblink",
    "dblink_exec",
    "dblink_connect",
    "dblink_connect_u",
    "dblink_disconnect",
    "dblink_is_busy",
    "dblink_get_result",
    "dblink_cancel_query",
    "dblink_error_message",
    "dblink_get_notify",
    "pg_ls_dir",
    "pg_file_unlink",
    "pg_file_sync",
];

/// The effect of a name used as a field selection (`(expr).name`, `tbl.name`), which
/// PostgreSQL resolves to a one-argument function call when no such field exists. Prefix
/// families are matched by exact member names here, so that a column such as
/// `c.dblink_status` does not count.
pub(crate) fn attribute_effect(name: &str) -> Option<(Class, String)> {
    let n = name.to_ascii_lowercase();
    if n == "set_config" {
        return None;
    }
    if DANGEROUS_PREFIX.iter().any(|(p, _)| n.starts_with(p))
        && !ONE_ARGUMENT_FAMILY.contains(&n.as_str())
    {
        return None;
    }
    call_effect(&n, None)
}

/// True when `ident` names a dangerous function (for identifiers found inside DDL, such as
/// `CREATE OPERATOR … (FUNCTION = pg_terminate_backend)` or a cast or trigger built on one).
pub(crate) fn is_dangerous_name(ident: &str) -> bool {
    let n = ident.to_ascii_lowercase();
    DANGEROUS.iter().any(|(f, _)| *f == n) || DANGEROUS_PREFIX.iter().any(|(p, _)| n.starts_with(p))
}
