//! The class a statement has by its kind alone (before what the walk finds inside it).

use pg_query::protobuf::{self, AlterTableType, ObjectType, TransactionStmtKind, VariableSetKind};
use pg_query::NodeEnum;

use crate::walk::qualified;
use crate::Class;

/// The statement-level verdict.
#[derive(Debug)]
pub(crate) struct Base {
    pub class: Class,
    pub command: String,
    pub reasons: Vec<String>,
    /// Relations named outside a RangeVar (DROP TABLE a, b).
    pub tables: Vec<String>,
    /// False for EXPLAIN without ANALYZE: the statement inside is planned, not run, so the
    /// data-modifying statements the walk finds do not count (function calls still do).
    pub executes: bool,
    /// The identifiers of this DDL statement are checked against dangerous function names.
    pub check_idents: bool,
}

fn base(class: Class, command: impl Into<String>) -> Base {
    Base {
        class,
        command: command.into(),
        reasons: Vec::new(),
        tables: Vec::new(),
        executes: true,
        check_idents: false,
    }
}

fn with_reason(class: Class, command: impl Into<String>, reason: impl Into<String>) -> Base {
    let mut b = base(class, command);
    b.reasons.push(reason.into());
    b
}

fn ddl(command: impl Into<String>) -> Base {
    let command = command.into();
    let mut b = with_reason(Class::Ddl, command.clone(), command);
    b.check_idents = true;
    b
}

fn admin(command: impl Into<String>) -> Base {
    let command = command.into();
    with_reason(Class::Admin, command.clone(), command)
}

fn dangerous(command: impl Into<String>) -> Base {
    let command = command.into();
    with_reason(Class::Dangerous, command.clone(), command)
}

/// `OBJECT_MATVIEW` → `MATERIALIZED VIEW`, the way the SQL spells the object type.
pub(crate) fn object_name(t: i32) -> String {
    use ObjectType as O;
    let Ok(t) = O::try_from(t) else {
        return "OBJECT".to_owned();
    };
    let special = match t {
        O::ObjectMatview => "MATERIALIZED VIEW",
        O::ObjectFdw => "FOREIGN DATA WRAPPER",
        O::ObjectForeignServer => "SERVER",
        O::ObjectLargeobject => "LARGE OBJECT",
        O::ObjectTabconstraint | O::ObjectDomconstraint => "CONSTRAINT",
        O::ObjectStatisticExt => "STATISTICS",
        O::ObjectTsconfiguration => "TEXT SEARCH CONFIGURATION",
        O::ObjectTsdictionary => "TEXT SEARCH DICTIONARY",
        O::ObjectTsparser => "TEXT SEARCH PARSER",
        O::ObjectTstemplate => "TEXT SEARCH TEMPLATE",
        O::ObjectOpclass => "OPERATOR CLASS",
        O::ObjectOpfamily => "OPERATOR FAMILY",
        O::ObjectAmop | O::ObjectAmproc => "OPERATOR FAMILY MEMBER",
        O::ObjectDefacl => "DEFAULT PRIVILEGES",
        O::ObjectParameterAcl => "PARAMETER",
        O::ObjectPublicationNamespace | O::ObjectPublicationRel => "PUBLICATION",
        _ => "",
    };
    if !special.is_empty() {
        return special.to_owned();
    }
    t.as_str_name()
        .trim_start_matches("OBJECT_")
        .replace('_', " ")
}

fn is_relation(t: i32) -> bool {
    use ObjectType as O;
    matches!(
        O::try_from(t),
        Ok(O::ObjectTable
            | O::ObjectView
            | O::ObjectMatview
            | O::ObjectForeignTable
            | O::ObjectIndex
            | O::ObjectSequence)
    )
}

fn strings(nodes: &[protobuf::Node]) -> Vec<&str> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect()
}

/// `EXPLAIN` runs the statement when ANALYZE is on. Anything but an explicit false counts.
fn explain_analyzes(options: &[protobuf::Node]) -> bool {
    options.iter().any(|o| match &o.node {
        Some(NodeEnum::DefElem(d)) if d.defname.eq_ignore_ascii_case("analyze") => {
            match d.arg.as_ref().and_then(|a| a.node.as_ref()) {
                None => true,
                Some(NodeEnum::Boolean(b)) => b.boolval,
                Some(NodeEnum::Integer(i)) => i.ival != 0,
                Some(NodeEnum::String(s)) => !matches!(
                    s.sval.to_ascii_lowercase().as_str(),
                    "false" | "off" | "no" | "0"
                ),
                Some(NodeEnum::AConst(c)) => {
                    !matches!(
                        &c.val,
                        Some(protobuf::a_const::Val::Boolval(b)) if !b.boolval
                    ) && !matches!(
                        &c.val,
                        Some(protobuf::a_const::Val::Ival(i)) if i.ival == 0
                    )
                }
                Some(_) => true,
            }
        }
        _ => false,
    })
}

fn inner(query: Option<&protobuf::Node>) -> Base {
    match query.and_then(|q| q.node.as_ref()) {
        Some(n) => classify(n),
        None => with_reason(Class::Unknown, "UNKNOWN", "statement without a body"),
    }
}

/// The class of a statement by its kind; see docs/sql-classification.md for the table.
pub(crate) fn classify(node: &NodeEnum) -> Base {
    use NodeEnum as N;
    match node {
        // ---- read --------------------------------------------------------------------------
        N::SelectStmt(_) => base(Class::Read, "SELECT"),
        N::FetchStmt(f) => base(Class::Read, if f.ismove { "MOVE" } else { "FETCH" }),
        N::ClosePortalStmt(_) => base(Class::Read, "CLOSE"),
        N::DeclareCursorStmt(d) => {
            let mut b = inner(d.query.as_deref());
            b.command = "DECLARE CURSOR".to_owned();
            b
        }
        N::ExplainStmt(e) => {
            if explain_analyzes(&e.options) {
                let mut b = inner(e.query.as_deref());
                if b.class >= Class::Write {
                    b.reasons
                        .insert(0, "EXPLAIN ANALYZE runs the statement".to_owned());
                }
                b.command = "EXPLAIN".to_owned();
                b
            } else {
                let mut b = base(Class::Read, "EXPLAIN");
                b.executes = false;
                b
            }
        }

        // ---- write -------------------------------------------------------------------------
        N::InsertStmt(_) => base(Class::Write, "INSERT"),
        N::UpdateStmt(_) => base(Class::Write, "UPDATE"),
        N::DeleteStmt(_) => base(Class::Write, "DELETE"),
        N::MergeStmt(_) => base(Class::Write, "MERGE"),
        N::CallStmt(_) => with_reason(Class::Write, "CALL", "CALL (procedures can write)"),
        N::LockStmt(_) => with_reason(Class::Write, "LOCK TABLE", "LOCK TABLE"),
        N::RefreshMatViewStmt(_) => with_reason(
            Class::Write,
            "REFRESH MATERIALIZED VIEW",
            "REFRESH MATERIALIZED VIEW",
        ),
        N::CopyStmt(c) => copy(c),

        // ---- transaction -------------------------------------------------------------------
        N::TransactionStmt(t) => transaction(t),
        N::ConstraintsSetStmt(_) => base(Class::Transaction, "SET CONSTRAINTS"),

        // ---- utility / SET -----------------------------------------------------------------
        N::VariableSetStmt(v) => variable_set(v),
        N::VariableShowStmt(_) => base(Class::Utility, "SHOW"),
        N::DiscardStmt(_) => base(Class::Utility, "DISCARD"),
        N::ListenStmt(_) => base(Class::Utility, "LISTEN"),
        N::UnlistenStmt(_) => base(Class::Utility, "UNLISTEN"),
        N::NotifyStmt(_) => base(Class::Utility, "NOTIFY"),
        N::DeallocateStmt(_) => base(Class::Utility, "DEALLOCATE"),

        // ---- prepared statements -----------------------------------------------------------
        N::PrepareStmt(p) => {
            let mut b = inner(p.query.as_deref());
            b.command = "PREPARE".to_owned();
            b
        }
        N::ExecuteStmt(_) => with_reason(
            Class::Unknown,
            "EXECUTE",
            "EXECUTE of a prepared statement (the adapter resolves it)",
        ),

        // ---- dangerous ---------------------------------------------------------------------
        N::DoStmt(_) => dangerous("DO").reason_only("DO block"),
        N::TruncateStmt(_) => dangerous("TRUNCATE"),
        N::DropStmt(d) => {
            let mut b = dangerous(format!("DROP {}", object_name(d.remove_type)));
            if is_relation(d.remove_type) {
                for o in &d.objects {
                    if let Some(NodeEnum::List(l)) = &o.node {
                        b.tables.push(qualified(strings(&l.items)));
                    }
                }
            }
            b
        }
        N::DropdbStmt(_) => dangerous("DROP DATABASE"),
        N::DropTableSpaceStmt(_) => dangerous("DROP TABLESPACE"),
        N::DropRoleStmt(_) => dangerous("DROP ROLE"),
        N::DropOwnedStmt(_) => dangerous("DROP OWNED"),
        N::DropSubscriptionStmt(_) => dangerous("DROP SUBSCRIPTION"),
        N::DropUserMappingStmt(_) => dangerous("DROP USER MAPPING"),
        N::AlterSystemStmt(_) => dangerous("ALTER SYSTEM"),
        N::CreateRoleStmt(r) => dangerous(match protobuf::RoleStmtType::try_from(r.stmt_type) {
            Ok(protobuf::RoleStmtType::RolestmtUser) => "CREATE USER",
            Ok(protobuf::RoleStmtType::RolestmtGroup) => "CREATE GROUP",
            _ => "CREATE ROLE",
        }),
        N::AlterRoleStmt(_) | N::AlterRoleSetStmt(_) => dangerous("ALTER ROLE"),
        N::GrantStmt(g) => dangerous(if g.is_grant { "GRANT" } else { "REVOKE" }),
        N::GrantRoleStmt(g) => {
            dangerous(if g.is_grant { "GRANT" } else { "REVOKE" }).reason_only(if g.is_grant {
                "GRANT role membership"
            } else {
                "REVOKE role membership"
            })
        }
        N::AlterDefaultPrivilegesStmt(_) => dangerous("ALTER DEFAULT PRIVILEGES"),
        N::ReassignOwnedStmt(_) => dangerous("REASSIGN OWNED"),
        N::AlterOwnerStmt(o) => {
            let what = object_name(o.object_type);
            dangerous(format!("ALTER {what}")).reason_only(format!("ALTER {what} … OWNER TO"))
        }

        // ---- admin -------------------------------------------------------------------------
        N::LoadStmt(_) => admin("LOAD"),
        N::CheckPointStmt(_) => admin("CHECKPOINT"),
        N::VacuumStmt(v) => admin(if v.is_vacuumcmd { "VACUUM" } else { "ANALYZE" }),
        N::ClusterStmt(_) => admin("CLUSTER"),
        N::ReindexStmt(_) => admin("REINDEX"),
        N::CreateExtensionStmt(_) => admin("CREATE EXTENSION"),
        N::AlterExtensionStmt(_) | N::AlterExtensionContentsStmt(_) => admin("ALTER EXTENSION"),
        N::CreatedbStmt(_) => admin("CREATE DATABASE"),
        N::AlterDatabaseStmt(_)
        | N::AlterDatabaseSetStmt(_)
        | N::AlterDatabaseRefreshCollStmt(_) => admin("ALTER DATABASE"),
        N::CreateTableSpaceStmt(_) => admin("CREATE TABLESPACE"),
        N::AlterTableSpaceOptionsStmt(_) => admin("ALTER TABLESPACE"),
        N::AlterTableMoveAllStmt(_) => admin("ALTER TABLE ALL IN TABLESPACE"),
        N::CreatePlangStmt(_) => admin("CREATE LANGUAGE"),
        N::CreateFdwStmt(_) => admin("CREATE FOREIGN DATA WRAPPER"),
        N::AlterFdwStmt(_) => admin("ALTER FOREIGN DATA WRAPPER"),
        N::CreateForeignServerStmt(_) => admin("CREATE SERVER"),
        N::AlterForeignServerStmt(_) => admin("ALTER SERVER"),
        N::CreateUserMappingStmt(_) => admin("CREATE USER MAPPING"),
        N::AlterUserMappingStmt(_) => admin("ALTER USER MAPPING"),
        N::CreatePublicationStmt(_) => admin("CREATE PUBLICATION"),
        N::AlterPublicationStmt(_) => admin("ALTER PUBLICATION"),
        N::CreateSubscriptionStmt(_) => admin("CREATE SUBSCRIPTION"),
        N::AlterSubscriptionStmt(_) => admin("ALTER SUBSCRIPTION"),
        N::CreateEventTrigStmt(_) => admin("CREATE EVENT TRIGGER"),
        N::AlterEventTrigStmt(_) => admin("ALTER EVENT TRIGGER"),
        N::SecLabelStmt(_) => admin("SECURITY LABEL"),

        // ---- ddl ---------------------------------------------------------------------------
        N::CreateStmt(_) => ddl("CREATE TABLE"),
        N::CreateForeignTableStmt(_) => ddl("CREATE FOREIGN TABLE"),
        N::CreateTableAsStmt(c) => {
            if c.is_select_into {
                with_reason(Class::Write, "SELECT INTO", "SELECT … INTO creates a table")
            } else {
                // the query may be an EXECUTE: the strictest of the two counts
                let mut b = ddl(format!("CREATE {}", object_name(c.objtype)));
                let q = inner(c.query.as_deref());
                if q.class > b.class {
                    b.class = q.class;
                    b.reasons.extend(q.reasons);
                }
                b
            }
        }
        N::ViewStmt(_) => ddl("CREATE VIEW"),
        N::IndexStmt(_) => ddl("CREATE INDEX"),
        N::CreateSeqStmt(_) => ddl("CREATE SEQUENCE"),
        N::AlterSeqStmt(_) => ddl("ALTER SEQUENCE"),
        N::AlterTableStmt(a) => alter_table(a),
        N::CreateFunctionStmt(f) => ddl(if f.is_procedure {
            "CREATE PROCEDURE"
        } else {
            "CREATE FUNCTION"
        }),
        N::AlterFunctionStmt(f) => ddl(format!("ALTER {}", object_name(f.objtype))),
        N::CreateTrigStmt(_) => ddl("CREATE TRIGGER"),
        N::RuleStmt(_) => ddl("CREATE RULE"),
        N::CreateSchemaStmt(s) => {
            // CREATE SCHEMA may carry GRANTs and other statements: the strictest one counts.
            let mut b = ddl("CREATE SCHEMA");
            for e in s.schema_elts.iter().filter_map(|e| e.node.as_ref()) {
                let sub = classify(e);
                if sub.class > b.class {
                    b.class = sub.class;
                }
                b.reasons.extend(sub.reasons);
                b.tables.extend(sub.tables);
            }
            b
        }
        N::CreateDomainStmt(_) => ddl("CREATE DOMAIN"),
        N::AlterDomainStmt(_) => ddl("ALTER DOMAIN"),
        N::DefineStmt(d) => ddl(format!("CREATE {}", object_name(d.kind))),
        N::CompositeTypeStmt(_) | N::CreateEnumStmt(_) | N::CreateRangeStmt(_) => {
            ddl("CREATE TYPE")
        }
        N::AlterEnumStmt(_) | N::AlterTypeStmt(_) => ddl("ALTER TYPE"),
        N::RenameStmt(r) => {
            use ObjectType as O;
            // RENAME COLUMN / ATTRIBUTE is an ALTER of the relation or type that holds it
            let what = match O::try_from(r.rename_type) {
                Ok(O::ObjectColumn | O::ObjectAttribute) => object_name(r.relation_type),
                _ => object_name(r.rename_type),
            };
            match O::try_from(r.rename_type) {
                Ok(O::ObjectRole) => {
                    dangerous(format!("ALTER {what}")).reason_only("ALTER ROLE … RENAME")
                }
                Ok(O::ObjectDatabase | O::ObjectTablespace) => admin(format!("ALTER {what}")),
                _ => ddl(format!("ALTER {what}")),
            }
        }
        N::AlterObjectSchemaStmt(o) => ddl(format!("ALTER {}", object_name(o.object_type))),
        N::AlterObjectDependsStmt(o) => ddl(format!("ALTER {}", object_name(o.object_type))),
        N::CommentStmt(_) => ddl("COMMENT"),
        N::CreateCastStmt(_) => ddl("CREATE CAST"),
        N::CreateOpClassStmt(_) => ddl("CREATE OPERATOR CLASS"),
        N::CreateOpFamilyStmt(_) => ddl("CREATE OPERATOR FAMILY"),
        N::AlterOpFamilyStmt(_) => ddl("ALTER OPERATOR FAMILY"),
        N::AlterOperatorStmt(_) => ddl("ALTER OPERATOR"),
        N::CreateConversionStmt(_) => ddl("CREATE CONVERSION"),
        N::CreateTransformStmt(_) => ddl("CREATE TRANSFORM"),
        N::CreateAmStmt(_) => ddl("CREATE ACCESS METHOD"),
        N::CreatePolicyStmt(_) => ddl("CREATE POLICY"),
        N::AlterPolicyStmt(_) => ddl("ALTER POLICY"),
        N::CreateStatsStmt(_) => ddl("CREATE STATISTICS"),
        N::AlterStatsStmt(_) => ddl("ALTER STATISTICS"),
        N::AlterTsdictionaryStmt(_) => ddl("ALTER TEXT SEARCH DICTIONARY"),
        N::AlterTsconfigurationStmt(_) => ddl("ALTER TEXT SEARCH CONFIGURATION"),
        N::AlterCollationStmt(_) => ddl("ALTER COLLATION"),
        N::ImportForeignSchemaStmt(_) => ddl("IMPORT FOREIGN SCHEMA"),

        // ---- anything else fails closed ----------------------------------------------------
        other => {
            let debug = format!("{other:?}");
            let variant: String = debug
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .take(40)
                .collect();
            with_reason(
                Class::Unknown,
                "UNKNOWN",
                format!("unrecognized statement type {variant}"),
            )
        }
    }
}

impl Base {
    /// Replaces the default reason (the command) with a more telling one.
    fn reason_only(mut self, reason: impl Into<String>) -> Self {
        self.reasons = vec![reason.into()];
        self
    }
}

/// The body of `CREATE FUNCTION … LANGUAGE sql AS '…'` (the quoted form; a `BEGIN ATOMIC`
/// body is already part of the tree). Other languages are opaque.
pub(crate) fn sql_function_body(node: &NodeEnum) -> Option<&str> {
    let NodeEnum::CreateFunctionStmt(f) = node else {
        return None;
    };
    let mut language = None;
    let mut body = None;
    for o in &f.options {
        let Some(NodeEnum::DefElem(d)) = &o.node else {
            continue;
        };
        match (
            d.defname.as_str(),
            d.arg.as_ref().and_then(|a| a.node.as_ref()),
        ) {
            ("language", Some(NodeEnum::String(s))) => language = Some(s.sval.as_str()),
            ("as", Some(NodeEnum::List(l))) if l.items.len() == 1 => {
                if let Some(NodeEnum::String(s)) = &l.items[0].node {
                    body = Some(s.sval.as_str());
                }
            }
            _ => {}
        }
    }
    match language {
        Some(l) if l.eq_ignore_ascii_case("sql") => body,
        _ => None,
    }
}

fn copy(c: &protobuf::CopyStmt) -> Base {
    let dir = if c.is_from { "FROM" } else { "TO" };
    if c.is_program {
        return with_reason(Class::Dangerous, "COPY", format!("COPY … {dir} PROGRAM"));
    }
    if !c.filename.is_empty() {
        return with_reason(Class::Admin, "COPY", format!("COPY … {dir} a server file"));
    }
    if c.is_from {
        return with_reason(Class::Write, "COPY", "COPY FROM STDIN");
    }
    match c.query.as_deref() {
        Some(q) => {
            let mut b = inner(Some(q));
            b.command = "COPY".to_owned();
            b
        }
        None => base(Class::Read, "COPY"),
    }
}

fn transaction(t: &protobuf::TransactionStmt) -> Base {
    use TransactionStmtKind as K;
    match K::try_from(t.kind) {
        Ok(K::TransStmtBegin) => base(Class::Transaction, "BEGIN"),
        Ok(K::TransStmtStart) => base(Class::Transaction, "START TRANSACTION"),
        Ok(K::TransStmtCommit) => base(Class::Transaction, "COMMIT"),
        Ok(K::TransStmtRollback) | Ok(K::TransStmtRollbackTo) => {
            base(Class::Transaction, "ROLLBACK")
        }
        Ok(K::TransStmtSavepoint) => base(Class::Transaction, "SAVEPOINT"),
        Ok(K::TransStmtRelease) => base(Class::Transaction, "RELEASE"),
        // Two-phase commit outlives the session and can finish other sessions' work.
        Ok(K::TransStmtPrepare) => admin("PREPARE TRANSACTION"),
        Ok(K::TransStmtCommitPrepared) => admin("COMMIT PREPARED"),
        Ok(K::TransStmtRollbackPrepared) => admin("ROLLBACK PREPARED"),
        _ => with_reason(
            Class::Unknown,
            "UNKNOWN",
            "unrecognized transaction statement",
        ),
    }
}

fn variable_set(v: &protobuf::VariableSetStmt) -> Base {
    let resets = matches!(
        VariableSetKind::try_from(v.kind),
        Ok(VariableSetKind::VarReset | VariableSetKind::VarResetAll)
    );
    let command = if resets { "RESET" } else { "SET" };
    let name = v.name.to_ascii_lowercase();
    match name.as_str() {
        "role" => admin(command).reason_only(if resets { "RESET ROLE" } else { "SET ROLE" }),
        "session_authorization" => admin(command).reason_only(if resets {
            "RESET SESSION AUTHORIZATION"
        } else {
            "SET SESSION AUTHORIZATION"
        }),
        "session_replication_role" => admin(command)
            .reason_only("SET session_replication_role (turns off triggers and foreign keys)"),
        "transaction" | "session characteristics" | "transaction snapshot" => {
            base(Class::Transaction, command)
        }
        _ => base(Class::Utility, command),
    }
}

fn alter_table(a: &protobuf::AlterTableStmt) -> Base {
    let what = object_name(a.objtype);
    let mut b = ddl(format!("ALTER {what}"));
    for cmd in &a.cmds {
        let Some(NodeEnum::AlterTableCmd(c)) = &cmd.node else {
            continue;
        };
        match AlterTableType::try_from(c.subtype) {
            Ok(AlterTableType::AtChangeOwner) => {
                b.class = Class::Dangerous;
                b.reasons.push(format!("ALTER {what} … OWNER TO"));
            }
            Ok(AlterTableType::AtDropColumn) => {
                b.class = Class::Dangerous;
                b.reasons.push(format!("ALTER {what} … DROP COLUMN"));
            }
            _ => {}
        }
    }
    b
}
