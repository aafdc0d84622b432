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
        "sys_class_name" => out.push_str(schema.name),
        "number" => {
            out.push_str(schema.number_prefix.unwrap_or_default());
            write_decimal(out, index + 1, 7);
        }
        _ => match schema.name {
            "incident" => incident(out, &row, column),
            "problem" => problem(out, &row, column),
            "change_request" => change_request(out, &row, column),
            "sys_user" => sys_user(out, &row, column),
            "cmdb_ci" => cmdb_ci(out, &row, column),
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
    match column {
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
        "type" => out.push_str(schema::CHANGE_TYPE[(row.random(14) % 3) as usize].0),
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
    let index = row.index;
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
