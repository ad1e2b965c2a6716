//! The feed's columns, defined once: the source table's name and DDL, and each exported column
//! with its SQL name and its JSON key, in the order rows are selected and exported.

/// The table the application writes follow-ups to.
pub const TABLE: &str = "provider_guardrail_followup";

/// The table's PostgreSQL DDL as the application's migrations define it
/// (`schema/postgres.sql`, linked from the README).
pub const POSTGRES_DDL: &str = include_str!("../../schema/postgres.sql");

/// The index `check` looks for, and the statement that creates it.
pub const CREATED_AT_INDEX: &str = "CREATE INDEX CONCURRENTLY \
     provider_guardrail_followup_created_at_id_idx ON provider_guardrail_followup (created_at, id);";

/// One exported column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The column in the source table.
    pub sql: &'static str,
    /// The key in an exported row.
    pub json: &'static str,
    /// Whether the column may be NULL (then the key may hold `null`).
    pub nullable: bool,
    /// The Snowflake columns it is loaded into (`warehouse/snowflake/`, generated from these
    /// by `row::snowflake`).
    pub warehouse: &'static [Warehouse],
}

/// A column of the Snowflake tables: its name, its type, and the path in a row it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warehouse {
    pub name: &'static str,
    /// `VARCHAR`, or `TIMESTAMP_NTZ(6)` for an exported timestamp (`…Z`, UTC).
    pub sql_type: &'static str,
    /// The JSON path in a row: `notes`, `platformContext:label`.
    pub path: &'static str,
}

const fn required(
    sql: &'static str,
    json: &'static str,
    warehouse: &'static [Warehouse],
) -> Column {
    Column {
        sql,
        json,
        nullable: false,
        warehouse,
    }
}

const fn nullable(
    sql: &'static str,
    json: &'static str,
    warehouse: &'static [Warehouse],
) -> Column {
    Column {
        sql,
        json,
        nullable: true,
        warehouse,
    }
}

const fn text(name: &'static str, path: &'static str) -> Warehouse {
    Warehouse {
        name,
        sql_type: "VARCHAR",
        path,
    }
}

/// Every exported column, in export order (the order of an NDJSON line's keys).
pub const COLUMNS: &[Column] = &[
    required(
        "id",
        "followUpId",
        &[Warehouse {
            name: "follow_up_id",
            sql_type: "VARCHAR(36)",
            path: "followUpId",
        }],
    ),
    required(
        "provider_id",
        "providerId",
        &[text("provider_id", "providerId")],
    ),
    nullable(
        "provider_name",
        "providerName",
        &[text("provider_name", "providerName")],
    ),
    required("action", "action", &[text("action", "action")]),
    nullable("notes", "notes", &[text("notes", "notes")]),
    nullable(
        "platform_context",
        "platformContext",
        &[
            text("platform_context_id", "platformContext:id"),
            text("platform_context_label", "platformContext:label"),
            text("platform_context_handle", "platformContext:handle"),
            text("platform_context_type", "platformContext:platformType"),
        ],
    ),
    nullable(
        "conversion_cursor",
        "conversionCursor",
        &[text("conversion_cursor", "conversionCursor")],
    ),
    nullable(
        "conversion_href",
        "conversionHref",
        &[text("conversion_href", "conversionHref")],
    ),
    required(
        "created_at",
        "createdAt",
        &[Warehouse {
            name: "created_at",
            sql_type: "TIMESTAMP_NTZ(6)",
            path: "createdAt",
        }],
    ),
];

/// Positions in [`COLUMNS`], and in a row selected with [`select_list`].
pub mod col {
    pub const ID: usize = 0;
    pub const PROVIDER_ID: usize = 1;
    pub const PROVIDER_NAME: usize = 2;
    pub const ACTION: usize = 3;
    pub const NOTES: usize = 4;
    pub const PLATFORM_CONTEXT: usize = 5;
    pub const CONVERSION_CURSOR: usize = 6;
    pub const CONVERSION_HREF: usize = 7;
    pub const CREATED_AT: usize = 8;
}

/// The keys of an exported row, in order.
pub const JSON_KEYS: [&str; COLUMNS.len()] = {
    let mut keys = [""; COLUMNS.len()];
    let mut i = 0;
    while i < COLUMNS.len() {
        keys[i] = COLUMNS[i].json;
        i += 1;
    }
    keys
};

/// The keys of an exported `platformContext` object, in order.
pub const CONTEXT_KEYS: [&str; 4] = ["id", "label", "handle", "platformType"];

/// `id, provider_id, …, created_at`: the select list of the exported columns, each column
/// passed through `cast` (PostgreSQL reads the json column as `platform_context::text`).
pub fn select_list(cast: impl Fn(&Column) -> String) -> String {
    COLUMNS.iter().map(cast).collect::<Vec<_>>().join(", ")
}

/// Whether a `CREATE TABLE` statement, one column a line, declares every exported column, NOT
/// NULL exactly where the column is not nullable (a primary key is NOT NULL without saying so).
#[cfg(test)]
pub(crate) fn declares_every_column(ddl: &str) -> Result<(), String> {
    for column in COLUMNS {
        let line = ddl
            .lines()
            .find(|line| line.starts_with(&format!("    {} ", column.sql)))
            .ok_or_else(|| format!("{} is missing", column.sql))?;
        let not_null = line.contains("NOT NULL") || line.contains("PRIMARY KEY");
        if column.nullable == not_null {
            return Err(format!("{line}: nullable should be {}", column.nullable));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ddl_defines_every_exported_column() {
        assert_eq!(declares_every_column(POSTGRES_DDL), Ok(()));
        assert!(POSTGRES_DDL.contains(&format!("CREATE TABLE {TABLE} (")));
        assert_eq!(COLUMNS[col::CREATED_AT].json, "createdAt");
        assert_eq!(COLUMNS[col::ID].sql, "id");
    }

    #[test]
    fn a_row_serialises_with_the_schemas_keys_in_order() {
        let (row, _) = crate::row::FollowUp::from_source(crate::row::SourceRow::new(
            uuid::Uuid::nil(),
            "p",
            "pause",
            crate::time::Timestamp::from_micros(0),
        ));
        let line = serde_json::to_string(&row).unwrap();
        let positions: Vec<usize> = JSON_KEYS
            .iter()
            .map(|key| line.find(&format!("\"{key}\":")).expect(key))
            .collect();
        assert!(positions.is_sorted(), "{line}");
    }
}
