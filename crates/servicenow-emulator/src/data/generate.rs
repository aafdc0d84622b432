//! Generated rows: every value of a built-in table's row is a pure function of the seed, the
//! table and the row's index, so a million rows cost no memory until they are written to.

use std::borrow::Cow;

use super::{Database, Table, schema};
use crate::clock::write_glide_date_time;

/// 2023-01-01 00:00:00 UTC: the first generated record's creation time.
const FIRST_CREATED: i64 = 1_672_531_200;
/// Seconds between two generated records' creation (keeps `sys_created_on` ordered by index).
const CREATED_SPACING: i64 = 60;

const FIRST_NAMES: &[&str] = &[
    "Beth", "Abel", "Fred", "David", "Charlie", "Don", "Bow", "Alene", "Jerrod", "Luke", "Sam",
    "Zane", "Christen", "Bud", "Lucius", "Hope", "Mara", "Ivan", "Olga", "Priya",
];
const LAST_NAMES: &[&str] = &[
    "Anglin",
    "Tuter",
    "Luddy",
    "Loo",
    "Whitherspoon",
    "Goodliffe",
    "Ruggeri",
    "Rasmussen",
    "Bennett",
    "Wilson",
    "Sorokin",
    "Hoffman",
    "Petersen",
    "Aldred",
    "Bagby",
    "Kumar",
    "Nakamura",
    "Okafor",
    "Moreau",
    "Silva",
];
const TITLES: &[&str] = &[
    "Service Desk Analyst",
    "Network Engineer",
    "Database Administrator",
    "IT Manager",
    "Software Engineer",
    "Change Manager",
    "Field Technician",
    "Security Analyst",
];
const DEPARTMENTS: &[&str] = &[
    "IT",
    "Finance",
    "Sales",
    "HR",
    "Operations",
    "Engineering",
    "Legal",
];
const SUBJECTS: &[&str] = &[
    "Email",
    "VPN",
    "Printer",
    "Laptop",
    "Database",
    "Wi-Fi",
    "SAP",
    "Outlook",
    "Network share",
    "Payroll app",
    "Phone",
    "Badge reader",
    "CRM",
    "Backup job",
    "Web portal",
];
const SYMPTOMS: &[&str] = &[
    "is down",
    "is slow",
    "keeps crashing",
    "cannot connect",
    "shows an error",
    "needs a password reset",
    "access request",
    "is not syncing",
    "times out",
    "reports a disk full",
];
const CHANGES: &[&str] = &[
    "Patch",
    "Upgrade",
    "Replace",
    "Reboot",
    "Migrate",
    "Decommission",
    "Reconfigure",
    "Scale out",
];
const CI_KINDS: &[(&str, &str)] = &[
    ("srv-lnx", "Hardware"),
    ("srv-win", "Hardware"),
    ("db", "Database"),
    ("app", "Software"),
    ("rtr", "Network"),
    ("sw", "Network"),
];

/// When generated row `index` was created (UNIX seconds); increases with the index.
pub(crate) fn created_at(index: u64) -> i64 {
    FIRST_CREATED + index as i64 * CREATED_SPACING
}

/// The value of column `column` of generated row `index`.
pub(crate) fn value(
    database: &Database,
    table: &Table,
    index: u64,
    column: &str,
) -> Cow<'static, str> {
    let mut out = String::new();
    write_value(&mut out, database, table, index, column);
    Cow::Owned(out)
}

/// Appends the value of column `column` of generated row `index` to `out` (no allocation
/// beyond `out` growing: rendering a page reuses one buffer for every row).
pub(crate) fn write_value(
    out: &mut String,
    database: &Database,
    table: &Table,
    index: u64,
    column: &str,
) {
    let Some(schema) = table.schema else {
        return;
    };
    let row = Row {
        database,
        table,
        index,
        created: created_at(index),
    };
    match column {
        "sys_id" => table.write_sys_id(out, index),
        "sys_created_on" | "opened_at" => write_glide_date_time(out, row.created),
        "sys_updated_on" => {
            write_glide_date_time(out, row.created + (row.random(1) % (30 * 86_400)) as i64)
        }
        "sys_created_by" | "sys_updated_by" => out.push_str("admin"),
        "sys_mod_count" => write_decimal(out, row.random(2) % 8, 1),
        "sys_class_name" if schema.name == "sys_metadata" => {
            out.push_str(
                METADATA_CLASSES[(row.random(50) % METADATA_CLASSES.len() as u64) as usize].0,
            );
        }
        "sys_class_name" => out.push_str(schema.name),
        "number" => {
            out.push_str(schema.number_prefix.unwrap_or_default());
            write_decimal(out, index + database.dataset.first_number(), 7);
        }
        _ => match schema.name {
            "incident" => incident(out, &row, column),
            "problem" => problem(out, &row, column),
            "change_request" => change_request(out, &row, column),
            "sys_user" => sys_user(out, &row, column),
            "cmdb_ci" => cmdb_ci(out, &row, column),
            "sys_user_group" => sys_user_group(out, &row, column),
            "sys_user_grmember" => sys_user_grmember(out, &row, column),
            "sys_metadata" => sys_metadata(out, &row, column),
            "sys_attachment" => sys_attachment(out, &row, column),
            _ => (),
        },
    }
}

/// One generated row being written.
struct Row<'a> {
    database: &'a Database,
    table: &'a Table,
    index: u64,
    created: i64,
}

impl Row<'_> {
    fn random(&self, salt: u64) -> u64 {
        mix(
            self.table.row_key ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            self.index,
        )
    }

    fn pick(&self, salt: u64, items: &[&'static str]) -> &'static str {
        items[(self.random(salt) % items.len() as u64) as usize]
    }

    /// A reference to a generated row of `target`, or nothing one time in `empty_one_in`
    /// (never when zero) or when the target has no generated rows.
    fn reference(&self, out: &mut String, target: &str, salt: u64, empty_one_in: u64) {
        let Some(table) = self.database.tables.get(target) else {
            return;
        };
        let random = self.random(salt);
        if table.generated == 0 || (empty_one_in != 0 && random % empty_one_in == 0) {
            return;
        }
        table.write_sys_id(out, (random >> 8) % table.generated);
    }

    fn subject_and_symptom(&self, out: &mut String) {
        out.push_str(self.pick(20, SUBJECTS));
        out.push(' ');
        out.push_str(self.pick(21, SYMPTOMS));
    }
}

fn incident(out: &mut String, row: &Row<'_>, column: &str) {
    let impact = 1 + row.random(10) % 3;
    let urgency = 1 + row.random(11) % 3;
    let state = schema::INCIDENT_STATE[(row.random(12) % 6) as usize].0;
    let closed = matches!(state, "6" | "7" | "8");
    match column {
        "short_description" => row.subject_and_symptom(out),
        "description" => {
            out.push_str("Reported by phone. ");
            row.subject_and_symptom(out);
            out.push_str(" since this morning (ticket ");
            write_decimal(out, row.index + 1, 1);
            out.push_str(").");
        }
        "caller_id" => row.reference(out, "sys_user", 22, 0),
        "category" => out.push_str(schema::INCIDENT_CATEGORY[(row.random(23) % 5) as usize].0),
        "impact" => write_decimal(out, impact, 1),
        "urgency" => write_decimal(out, urgency, 1),
        "priority" => write_decimal(out, impact + urgency - 1, 1),
        "state" => out.push_str(state),
        "active" => out.push_str(if closed { "false" } else { "true" }),
        "assigned_to" => row.reference(out, "sys_user", 24, 5),
        "assignment_group" => row.reference(out, "sys_user_group", 27, 5),
        "cmdb_ci" => row.reference(out, "cmdb_ci", 25, 3),
        "resolved_at" if closed => {
            write_glide_date_time(out, row.created + 3600 + (row.random(26) % 86_400) as i64);
        }
        _ => (),
    }
}

fn problem(out: &mut String, row: &Row<'_>, column: &str) {
    let impact = 1 + row.random(10) % 3;
    let urgency = 1 + row.random(11) % 3;
    let state = schema::PROBLEM_STATE[(row.random(12) % 6) as usize].0;
    let resolved = matches!(state, "106" | "107");
    match column {
        "description" => {
            out.push_str("Several incidents report that ");
            row.subject_and_symptom(out);
            out.push('.');
        }
        "category" => out.push_str(schema::INCIDENT_CATEGORY[(row.random(23) % 5) as usize].0),
        "known_error" => out.push_str(if row.random(26) % 4 == 0 {
            "true"
        } else {
            "false"
        }),
        "opened_by" => row.reference(out, "sys_user", 22, 0),
        "assignment_group" => row.reference(out, "sys_user_group", 27, 4),
        "cause_notes" if resolved => out.push_str("Configuration drift after the last patch."),
        "fix_notes" if resolved => out.push_str("Configuration restored and monitored."),
        "resolved_at" if resolved => {
            write_glide_date_time(
                out,
                row.created + 86_400 + (row.random(28) % 864_000) as i64,
            );
        }
        "reassignment_count" => write_decimal(out, row.random(29) % 4, 1),
        "short_description" => {
            out.push_str("Recurring: ");
            row.subject_and_symptom(out);
            out.push_str(" (problem ");
            write_decimal(out, row.index + 1, 1);
            out.push(')');
        }
        "impact" => write_decimal(out, impact, 1),
        "urgency" => write_decimal(out, urgency, 1),
        "priority" => write_decimal(out, impact + urgency - 1, 1),
        "state" => out.push_str(state),
        "active" => out.push_str(if matches!(state, "106" | "107") {
            "false"
        } else {
            "true"
        }),
        "assigned_to" => row.reference(out, "sys_user", 24, 4),
        "cmdb_ci" => row.reference(out, "cmdb_ci", 25, 2),
        _ => (),
    }
}

fn change_request(out: &mut String, row: &Row<'_>, column: &str) {
    let state = schema::CHANGE_STATE[(row.random(12) % 8) as usize].0;
    let start = row.created + 86_400 * (1 + (row.random(13) % 14) as i64);
    match column {
        "short_description" => {
            out.push_str(row.pick(20, CHANGES));
            out.push(' ');
            out.push_str(row.pick(21, SUBJECTS));
        }
        "description" => {
            out.push_str("Planned work: ");
            out.push_str(row.pick(20, CHANGES));
            out.push(' ');
            out.push_str(row.pick(21, SUBJECTS));
            out.push('.');
        }
        "type" => out.push_str(schema::CHANGE_TYPE[(row.random(14) % 3) as usize].0),
        "category" => {
            let categories = schema::CHANGE_CATEGORY;
            out.push_str(categories[(row.random(18) % categories.len() as u64) as usize].0);
        }
        "impact" => write_decimal(out, 1 + row.random(10) % 3, 1),
        "urgency" => write_decimal(out, 1 + row.random(11) % 3, 1),
        "approval" => out.push_str(match state {
            "-5" => "not requested",
            "-4" | "-3" => "requested",
            "4" if row.random(19) % 2 == 0 => "rejected",
            _ => "approved",
        }),
        "requested_by" => row.reference(out, "sys_user", 22, 0),
        "assignment_group" => row.reference(out, "sys_user_group", 27, 0),
        "justification" => out.push_str("Keeps the service supported and secure."),
        "implementation_plan" => out.push_str("Apply during the maintenance window."),
        "backout_plan" => out.push_str("Restore the snapshot taken before the change."),
        "test_plan" => out.push_str("Smoke test the service after the change."),
        "state" => out.push_str(state),
        "priority" => write_decimal(out, 1 + row.random(15) % 4, 1),
        "risk" => out.push_str(schema::RISK[(row.random(16) % 3) as usize].0),
        "active" => out.push_str(if matches!(state, "3" | "4") {
            "false"
        } else {
            "true"
        }),
        "assigned_to" => row.reference(out, "sys_user", 24, 5),
        "cmdb_ci" => row.reference(out, "cmdb_ci", 25, 0),
        "start_date" => write_glide_date_time(out, start),
        "end_date" => write_glide_date_time(out, start + 3600 * (1 + (row.random(17) % 8) as i64)),
        _ => (),
    }
}

fn sys_user(out: &mut String, row: &Row<'_>, column: &str) {
    // A developer-instance data set holds the well-known people under their plain names; the
    // generated ones start at the first numbered round so that no name is ambiguous.
    let index = row.index
        + row.database.dataset.name_rounds_taken() * (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
    let first = FIRST_NAMES[(index % FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[((index / FIRST_NAMES.len() as u64) % LAST_NAMES.len() as u64) as usize];
    let round = index / (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
    let login = |out: &mut String| {
        out.push_str(&first.to_lowercase());
        out.push('.');
        out.push_str(&last.to_lowercase());
        if round > 0 {
            write_decimal(out, round, 1);
        }
    };
    match column {
        "user_name" => login(out),
        "first_name" => out.push_str(first),
        "last_name" => out.push_str(last),
        "name" => {
            out.push_str(first);
            out.push(' ');
            out.push_str(last);
            if round > 0 {
                out.push(' ');
                write_decimal(out, round, 1);
            }
        }
        "email" => {
            login(out);
            out.push_str("@example.com");
        }
        "title" => out.push_str(row.pick(30, TITLES)),
        "department" => out.push_str(row.pick(31, DEPARTMENTS)),
        "active" => out.push_str(if row.random(32) % 20 == 0 {
            "false"
        } else {
            "true"
        }),
        "locked_out" => out.push_str("false"),
        _ => (),
    }
}

fn cmdb_ci(out: &mut String, row: &Row<'_>, column: &str) {
    let (kind, category) = CI_KINDS[(row.random(40) % CI_KINDS.len() as u64) as usize];
    match column {
        "name" => {
            out.push_str(kind);
            out.push('-');
            write_decimal(out, row.index + 1, 5);
        }
        "serial_number" => {
            use std::fmt::Write as _;
            let _ = write!(out, "SN{:010X}", row.random(41) % 0xFF_FFFF_FFFF);
        }
        "ip_address" => {
            let address = row.random(42);
            out.push_str("10.");
            write_decimal(out, (address >> 16) % 256, 1);
            out.push('.');
            write_decimal(out, (address >> 8) % 256, 1);
            out.push('.');
            write_decimal(out, 1 + address % 254, 1);
        }
        "category" => out.push_str(category),
        "operational_status" => {
            out.push_str(schema::OPERATIONAL_STATUS[(row.random(43) % 4) as usize].0)
        }
        "install_date" => {
            write_glide_date_time(out, row.created - 86_400 * (row.random(44) % 900) as i64)
        }
        _ => (),
    }
}

const GROUP_NAMES: &[(&str, &str)] = &[
    ("Service Desk", "First line support for every caller"),
    ("Hardware", "Laptops, desktops, printers and servers"),
    ("Software", "Business applications and licences"),
    ("Network", "LAN, WAN, VPN and Wi-Fi"),
    ("Database", "Database administration"),
    ("Change Management", "Reviews and schedules changes"),
    ("CAB Approval", "Change Advisory Board"),
    ("Problem Solving", "Root cause analysis"),
    ("Application Development", "In-house applications"),
    ("IT Securities", "Security operations"),
    ("Openspace", "Facilities"),
    ("Help Desk", "Second line support"),
];
const METADATA_CLASSES: &[(&str, &str)] = &[
    ("sys_script", "Business Rule"),
    ("sys_script_include", "Script Include"),
    ("sys_ui_policy", "UI Policy"),
    ("sys_ui_action", "UI Action"),
    ("sys_dictionary", "Dictionary Entry"),
    ("sys_script_client", "Client Script"),
    ("sys_ui_page", "UI Page"),
];
const FILE_KINDS: &[(&str, &str)] = &[
    ("log", "text/plain"),
    ("png", "image/png"),
    ("pdf", "application/pdf"),
    ("csv", "text/csv"),
    ("zip", "application/zip"),
];

fn sys_user_group(out: &mut String, row: &Row<'_>, column: &str) {
    let count = GROUP_NAMES.len() as u64;
    let index = row.index + row.database.dataset.name_rounds_taken() * count;
    let (name, description) = GROUP_NAMES[(index % count) as usize];
    let round = index / count;
    match column {
        "name" => {
            out.push_str(name);
            if round > 0 {
                out.push(' ');
                write_decimal(out, round, 1);
            }
        }
        "description" => out.push_str(description),
        "email" => {
            for word in name.split(' ') {
                out.push_str(&word.to_lowercase());
            }
            if round > 0 {
                write_decimal(out, round, 1);
            }
            out.push_str("@example.com");
        }
        "manager" => row.reference(out, "sys_user", 60, 0),
        "type" => out.push_str(if row.random(61) % 3 == 0 { "itil" } else { "" }),
        "active" => out.push_str("true"),
        _ => (),
    }
}

fn sys_user_grmember(out: &mut String, row: &Row<'_>, column: &str) {
    match column {
        "user" => row.reference(out, "sys_user", 62, 0),
        "group" => row.reference(out, "sys_user_group", 63, 0),
        _ => (),
    }
}

fn sys_metadata(out: &mut String, row: &Row<'_>, column: &str) {
    let (class, label) =
        METADATA_CLASSES[(row.random(50) % METADATA_CLASSES.len() as u64) as usize];
    let write_name = |out: &mut String| {
        out.push_str(row.pick(20, SUBJECTS));
        out.push(' ');
        out.push_str(label);
        out.push(' ');
        write_decimal(out, row.index + 1, 1);
    };
    match column {
        "sys_name" => write_name(out),
        "sys_update_name" => {
            out.push_str(class);
            out.push('_');
            row.table.write_sys_id(out, row.index);
        }
        "sys_scope" | "sys_package" => out.push_str("global"),
        _ => (),
    }
}

/// The content of generated attachment `index` of `table` (`sys_attachment`): a few KB of
/// seeded bytes, so that `GET /attachment/{sys_id}/file` serves bytes whose SHA-256 is the
/// row's `hash` and whose length is its `size_bytes`.
pub(crate) fn attachment_content(database: &Database, table: &Table, index: u64) -> Vec<u8> {
    let row = Row {
        database,
        table,
        index,
        created: created_at(index),
    };
    generated_attachment(&row)
}

fn generated_attachment(row: &Row<'_>) -> Vec<u8> {
    use rand::{RngCore as _, SeedableRng as _};
    let size = 200 + row.random(71) % 20_000;
    let mut content = vec![0_u8; size as usize];
    rand_chacha::ChaCha8Rng::seed_from_u64(row.random(73)).fill_bytes(&mut content);
    content
}

fn sys_attachment(out: &mut String, row: &Row<'_>, column: &str) {
    let (extension, content_type) = FILE_KINDS[(row.random(70) % FILE_KINDS.len() as u64) as usize];
    let size = 200 + row.random(71) % 20_000;
    match column {
        "file_name" => {
            out.push_str("attachment-");
            write_decimal(out, row.index + 1, 1);
            out.push('.');
            out.push_str(extension);
        }
        "table_name" => out.push_str("incident"),
        "table_sys_id" => row.reference(out, "incident", 72, 0),
        "content_type" => out.push_str(content_type),
        "size_bytes" | "size_compressed" => write_decimal(out, size, 1),
        "compressed" => out.push_str("false"),
        "hash" => {
            use sha2::Digest as _;
            use std::fmt::Write as _;
            for byte in sha2::Sha256::digest(generated_attachment(row)) {
                let _ = write!(out, "{byte:02x}");
            }
        }
        "state" => out.push_str("available"),
        "chunk_size_bytes" => out.push_str("700000"),
        "image_height" | "image_width" if extension == "png" => {
            write_decimal(out, 200 + row.random(77) % 1000, 1)
        }
        _ => (),
    }
}

/// Appends `value` in decimal, zero-padded to at least `width` digits.
pub(crate) fn write_decimal(out: &mut String, value: u64, width: usize) {
    let mut digits = [0_u8; 20];
    let mut position = digits.len();
    let mut rest = value;
    loop {
        position -= 1;
        digits[position] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for _ in (digits.len() - position)..width {
        out.push('0');
    }
    for digit in &digits[position..] {
        out.push(char::from(*digit));
    }
}

/// SplitMix64 of two words: a fast, well-mixed, deterministic pseudo-random value.
pub(crate) fn mix(key: u64, index: u64) -> u64 {
    let mut z = key
        ^ index
            .wrapping_mul(0xD1B5_4A32_D192_ED03)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
