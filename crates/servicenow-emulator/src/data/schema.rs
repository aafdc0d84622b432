//! The built-in tables and their fields: `incident`, `problem`, `change_request`, `sys_user`,
//! `cmdb_ci`, `sys_user_group`, `sys_user_grmember`, `sys_metadata` and `sys_attachment`, with
//! kinds that decide how values render (`servicenow-api.md` §2.4, `servicenow-api-more.md` §1).

/// How a field's value is shown and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Text,
    Integer,
    Boolean,
    DateTime,
    /// A choice list: `(value, label)`.
    Choice(&'static [(&'static str, &'static str)]),
    /// A reference to a record of the named table, by sys_id.
    Reference(&'static str),
}

/// A field of a built-in table.
#[derive(Debug)]
pub(crate) struct FieldDef {
    pub(crate) name: &'static str,
    pub(crate) kind: FieldKind,
    /// Value given to a record created without it.
    pub(crate) default: &'static str,
}

/// A built-in table.
#[derive(Debug)]
pub(crate) struct TableSchema {
    pub(crate) name: &'static str,
    /// `INC`, `PRB`, `CHG` for tables with a `number` field.
    pub(crate) number_prefix: Option<&'static str>,
    /// The field shown as a reference's display value.
    pub(crate) display_field: &'static str,
    pub(crate) fields: &'static [FieldDef],
}

const fn field(name: &'static str, kind: FieldKind) -> FieldDef {
    FieldDef {
        name,
        kind,
        default: "",
    }
}

const fn field_with_default(
    name: &'static str,
    kind: FieldKind,
    default: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        kind,
        default,
    }
}

pub(crate) const IMPACT: &[(&str, &str)] =
    &[("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")];
pub(crate) const PRIORITY: &[(&str, &str)] = &[
    ("1", "1 - Critical"),
    ("2", "2 - High"),
    ("3", "3 - Moderate"),
    ("4", "4 - Low"),
    ("5", "5 - Planning"),
];
pub(crate) const INCIDENT_STATE: &[(&str, &str)] = &[
    ("1", "New"),
    ("2", "In Progress"),
    ("3", "On Hold"),
    ("6", "Resolved"),
    ("7", "Closed"),
    ("8", "Canceled"),
];
pub(crate) const INCIDENT_CATEGORY: &[(&str, &str)] = &[
    ("inquiry", "Inquiry / Help"),
    ("software", "Software"),
    ("hardware", "Hardware"),
    ("network", "Network"),
    ("database", "Database"),
];
pub(crate) const PROBLEM_STATE: &[(&str, &str)] = &[
    ("101", "New"),
    ("102", "Assess"),
    ("103", "Root Cause Analysis"),
    ("104", "Fix in Progress"),
    ("106", "Resolved"),
    ("107", "Closed"),
];
pub(crate) const CHANGE_STATE: &[(&str, &str)] = &[
    ("-5", "New"),
    ("-4", "Assess"),
    ("-3", "Authorize"),
    ("-2", "Scheduled"),
    ("-1", "Implement"),
    ("0", "Review"),
    ("3", "Closed"),
    ("4", "Canceled"),
];
pub(crate) const CHANGE_TYPE: &[(&str, &str)] = &[
    ("normal", "Normal"),
    ("standard", "Standard"),
    ("emergency", "Emergency"),
];
pub(crate) const CHANGE_CATEGORY: &[(&str, &str)] = &[
    ("Hardware", "Hardware"),
    ("Software", "Software"),
    ("Service", "Service"),
    ("Network", "Network"),
    ("Documentation", "Documentation"),
    ("Other", "Other"),
];
pub(crate) const APPROVAL: &[(&str, &str)] = &[
    ("not requested", "Not Yet Requested"),
    ("requested", "Requested"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
];
pub(crate) const RISK: &[(&str, &str)] = &[("2", "High"), ("3", "Moderate"), ("4", "Low")];
pub(crate) const OPERATIONAL_STATUS: &[(&str, &str)] = &[
    ("1", "Operational"),
    ("2", "Non-Operational"),
    ("3", "Repair in Progress"),
    ("6", "Retired"),
];

/// The system fields every table has, after its own.
pub(crate) const SYSTEM_FIELDS: &[&str] = &[
    "sys_id",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
    "sys_class_name",
];

macro_rules! with_system_fields {
    ($($field:expr),* $(,)?) => {
        &[
            $($field,)*
            field("sys_id", FieldKind::Text),
            field("sys_created_on", FieldKind::DateTime),
            field("sys_created_by", FieldKind::Text),
            field("sys_updated_on", FieldKind::DateTime),
            field("sys_updated_by", FieldKind::Text),
            field_with_default("sys_mod_count", FieldKind::Integer, "0"),
            field("sys_class_name", FieldKind::Text),
        ]
    };
}

pub(crate) static INCIDENT: TableSchema = TableSchema {
    name: "incident",
    number_prefix: Some("INC"),
    display_field: "number",
    fields: with_system_fields![
        field("number", FieldKind::Text),
        field("short_description", FieldKind::Text),
        field("description", FieldKind::Text),
        field("caller_id", FieldKind::Reference("sys_user")),
        field_with_default("category", FieldKind::Choice(INCIDENT_CATEGORY), "inquiry"),
        field_with_default("impact", FieldKind::Choice(IMPACT), "3"),
        field_with_default("urgency", FieldKind::Choice(IMPACT), "3"),
        field_with_default("priority", FieldKind::Choice(PRIORITY), "5"),
        field_with_default("state", FieldKind::Choice(INCIDENT_STATE), "1"),
        field_with_default("active", FieldKind::Boolean, "true"),
        field("assigned_to", FieldKind::Reference("sys_user")),
        field("assignment_group", FieldKind::Reference("sys_user_group")),
        field("cmdb_ci", FieldKind::Reference("cmdb_ci")),
        field("opened_at", FieldKind::DateTime),
        field("resolved_at", FieldKind::DateTime),
    ],
};

pub(crate) static PROBLEM: TableSchema = TableSchema {
    name: "problem",
    number_prefix: Some("PRB"),
    display_field: "number",
    fields: with_system_fields![
        field("number", FieldKind::Text),
        field("short_description", FieldKind::Text),
        field("description", FieldKind::Text),
        field_with_default("category", FieldKind::Choice(INCIDENT_CATEGORY), "software"),
        field_with_default("impact", FieldKind::Choice(IMPACT), "3"),
        field_with_default("urgency", FieldKind::Choice(IMPACT), "3"),
        field_with_default("priority", FieldKind::Choice(PRIORITY), "5"),
        field_with_default("state", FieldKind::Choice(PROBLEM_STATE), "101"),
        field_with_default("active", FieldKind::Boolean, "true"),
        field_with_default("known_error", FieldKind::Boolean, "false"),
        field("opened_by", FieldKind::Reference("sys_user")),
        field("assigned_to", FieldKind::Reference("sys_user")),
        field("assignment_group", FieldKind::Reference("sys_user_group")),
        field("cmdb_ci", FieldKind::Reference("cmdb_ci")),
        field("cause_notes", FieldKind::Text),
        field("fix_notes", FieldKind::Text),
        field("opened_at", FieldKind::DateTime),
        field("resolved_at", FieldKind::DateTime),
        field_with_default("reassignment_count", FieldKind::Integer, "0"),
    ],
};

pub(crate) static CHANGE_REQUEST: TableSchema = TableSchema {
    name: "change_request",
    number_prefix: Some("CHG"),
    display_field: "number",
    fields: with_system_fields![
        field("number", FieldKind::Text),
        field("short_description", FieldKind::Text),
        field("description", FieldKind::Text),
        field_with_default("type", FieldKind::Choice(CHANGE_TYPE), "normal"),
        field_with_default("category", FieldKind::Choice(CHANGE_CATEGORY), "Other"),
        field_with_default("state", FieldKind::Choice(CHANGE_STATE), "-5"),
        field_with_default("impact", FieldKind::Choice(IMPACT), "3"),
        field_with_default("urgency", FieldKind::Choice(IMPACT), "3"),
        field_with_default("priority", FieldKind::Choice(PRIORITY), "4"),
        field_with_default("risk", FieldKind::Choice(RISK), "3"),
        field_with_default("approval", FieldKind::Choice(APPROVAL), "not requested"),
        field_with_default("active", FieldKind::Boolean, "true"),
        field("requested_by", FieldKind::Reference("sys_user")),
        field("assigned_to", FieldKind::Reference("sys_user")),
        field("assignment_group", FieldKind::Reference("sys_user_group")),
        field("cmdb_ci", FieldKind::Reference("cmdb_ci")),
        field("justification", FieldKind::Text),
        field("implementation_plan", FieldKind::Text),
        field("backout_plan", FieldKind::Text),
        field("test_plan", FieldKind::Text),
        field("start_date", FieldKind::DateTime),
        field("end_date", FieldKind::DateTime),
    ],
};

pub(crate) static SYS_USER: TableSchema = TableSchema {
    name: "sys_user",
    number_prefix: None,
    display_field: "name",
    fields: with_system_fields![
        field("user_name", FieldKind::Text),
        field("first_name", FieldKind::Text),
        field("last_name", FieldKind::Text),
        field("name", FieldKind::Text),
        field("email", FieldKind::Text),
        field("title", FieldKind::Text),
        field("department", FieldKind::Text),
        field_with_default("active", FieldKind::Boolean, "true"),
        field_with_default("locked_out", FieldKind::Boolean, "false"),
    ],
};

pub(crate) static CMDB_CI: TableSchema = TableSchema {
    name: "cmdb_ci",
    number_prefix: None,
    display_field: "name",
    fields: with_system_fields![
        field("name", FieldKind::Text),
        field("serial_number", FieldKind::Text),
        field("ip_address", FieldKind::Text),
        field("category", FieldKind::Text),
        field_with_default(
            "operational_status",
            FieldKind::Choice(OPERATIONAL_STATUS),
            "1"
        ),
        field("install_date", FieldKind::DateTime),
    ],
};

pub(crate) static SYS_USER_GROUP: TableSchema = TableSchema {
    name: "sys_user_group",
    number_prefix: None,
    display_field: "name",
    fields: with_system_fields![
        field("name", FieldKind::Text),
        field("description", FieldKind::Text),
        field("email", FieldKind::Text),
        field("manager", FieldKind::Reference("sys_user")),
        field("parent", FieldKind::Reference("sys_user_group")),
        field("type", FieldKind::Text),
        field_with_default("active", FieldKind::Boolean, "true"),
    ],
};

pub(crate) static SYS_USER_GRMEMBER: TableSchema = TableSchema {
    name: "sys_user_grmember",
    number_prefix: None,
    display_field: "sys_id",
    fields: with_system_fields![
        field("user", FieldKind::Reference("sys_user")),
        field("group", FieldKind::Reference("sys_user_group")),
    ],
};

/// The base of every application file (business rules, script includes, UI policies …); its
/// rows carry the concrete class in `sys_class_name`.
pub(crate) static SYS_METADATA: TableSchema = TableSchema {
    name: "sys_metadata",
    number_prefix: None,
    display_field: "sys_name",
    fields: with_system_fields![
        field("sys_name", FieldKind::Text),
        field("sys_update_name", FieldKind::Text),
        field_with_default("sys_scope", FieldKind::Text, "global"),
        field_with_default("sys_package", FieldKind::Text, "global"),
        field("sys_policy", FieldKind::Text),
    ],
};

/// Attachment metadata (`servicenow-api-more.md` §1): every value a string on the wire,
/// `size_bytes` included; `hash` is a SHA-256 in hex.
pub(crate) static SYS_ATTACHMENT: TableSchema = TableSchema {
    name: "sys_attachment",
    number_prefix: None,
    display_field: "file_name",
    fields: with_system_fields![
        field("file_name", FieldKind::Text),
        field("table_name", FieldKind::Text),
        field("table_sys_id", FieldKind::Text),
        field_with_default("content_type", FieldKind::Text, "application/octet-stream"),
        field_with_default("size_bytes", FieldKind::Integer, "0"),
        field_with_default("size_compressed", FieldKind::Integer, "0"),
        field_with_default("compressed", FieldKind::Boolean, "true"),
        field("hash", FieldKind::Text),
        field_with_default("state", FieldKind::Text, "available"),
        field_with_default("chunk_size_bytes", FieldKind::Text, "700000"),
        field("image_height", FieldKind::Text),
        field("image_width", FieldKind::Text),
        field("average_image_color", FieldKind::Text),
    ],
};

/// Every built-in table.
pub(crate) static BUILT_IN: &[&TableSchema] = &[
    &INCIDENT,
    &PROBLEM,
    &CHANGE_REQUEST,
    &SYS_USER,
    &CMDB_CI,
    &SYS_USER_GROUP,
    &SYS_USER_GRMEMBER,
    &SYS_METADATA,
    &SYS_ATTACHMENT,
];

pub(crate) fn built_in(name: &str) -> Option<&'static TableSchema> {
    BUILT_IN.iter().copied().find(|schema| schema.name == name)
}
