//! Generated rows: every value of a built-in table's row is a pure function of the seed, the
//! table and the row's index, so a million rows cost no memory until they are written to.

use std::borrow::Cow;

use super::{Database, Table, schema};
use crate::clock::glide_date_time;

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

/// The value of column `column` of generated row `index`.
pub(crate) fn value(
    database: &Database,
    table: &Table,
    index: u64,
    column: &str,
) -> Cow<'static, str> {
    let Some(schema) = table.schema else {
        return Cow::Borrowed("");
    };
    let random = |salt: u64| {
        mix(
            table.row_key ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            index,
        )
    };
    let pick = |salt: u64, items: &'static [&'static str]| {
        Cow::Borrowed(items[(random(salt) % items.len() as u64) as usize])
    };
    let created = FIRST_CREATED + index as i64 * CREATED_SPACING;
    match column {
        "sys_id" => Cow::Owned(table.sys_id_of(index)),
        "sys_created_on" | "opened_at" => Cow::Owned(glide_date_time(created)),
        "sys_updated_on" => Cow::Owned(glide_date_time(
            created + (random(1) % (30 * 86_400)) as i64,
        )),
        "sys_created_by" | "sys_updated_by" => Cow::Borrowed("admin"),
        "sys_mod_count" => Cow::Owned((random(2) % 8).to_string()),
        "sys_class_name" => Cow::Borrowed(schema.name),
        "number" => Cow::Owned(format!(
            "{}{:07}",
            schema.number_prefix.unwrap_or_default(),
            index + 1
        )),
        _ => match schema.name {
            "incident" => incident(database, index, column, &random, &pick, created),
            "problem" => problem(database, index, column, &random, &pick),
            "change_request" => change_request(database, column, &random, &pick, created),
            "sys_user" => sys_user(index, column, &random, &pick),
            "cmdb_ci" => cmdb_ci(index, column, &random, created),
            _ => Cow::Borrowed(""),
        },
    }
}

fn incident(
    database: &Database,
    index: u64,
    column: &str,
    random: &dyn Fn(u64) -> u64,
    pick: &dyn Fn(u64, &'static [&'static str]) -> Cow<'static, str>,
    created: i64,
) -> Cow<'static, str> {
    let impact = 1 + random(10) % 3;
    let urgency = 1 + random(11) % 3;
    let state = schema::INCIDENT_STATE[(random(12) % 6) as usize].0;
    let closed = matches!(state, "6" | "7" | "8");
    match column {
        "short_description" => Cow::Owned(format!("{} {}", pick(20, SUBJECTS), pick(21, SYMPTOMS))),
        "description" => Cow::Owned(format!(
            "Reported by phone. {} {} since this morning (ticket {}).",
            pick(20, SUBJECTS),
            pick(21, SYMPTOMS),
            index + 1
        )),
        "caller_id" => reference(database, "sys_user", random(22), 0),
        "category" => Cow::Borrowed(schema::INCIDENT_CATEGORY[(random(23) % 5) as usize].0),
        "impact" => Cow::Owned(impact.to_string()),
        "urgency" => Cow::Owned(urgency.to_string()),
        "priority" => Cow::Owned((impact + urgency - 1).to_string()),
        "state" => Cow::Borrowed(state),
        "active" => Cow::Borrowed(if closed { "false" } else { "true" }),
        "assigned_to" => reference(database, "sys_user", random(24), 5),
        "cmdb_ci" => reference(database, "cmdb_ci", random(25), 3),
        "resolved_at" if closed => Cow::Owned(glide_date_time(
            created + 3600 + (random(26) % 86_400) as i64,
        )),
        _ => Cow::Borrowed(""),
    }
}

fn problem(
    database: &Database,
    index: u64,
    column: &str,
    random: &dyn Fn(u64) -> u64,
    pick: &dyn Fn(u64, &'static [&'static str]) -> Cow<'static, str>,
) -> Cow<'static, str> {
    let impact = 1 + random(10) % 3;
    let urgency = 1 + random(11) % 3;
    let state = schema::PROBLEM_STATE[(random(12) % 6) as usize].0;
    match column {
        "short_description" => Cow::Owned(format!(
            "Recurring: {} {} (problem {})",
            pick(20, SUBJECTS),
            pick(21, SYMPTOMS),
            index + 1
        )),
        "impact" => Cow::Owned(impact.to_string()),
        "urgency" => Cow::Owned(urgency.to_string()),
        "priority" => Cow::Owned((impact + urgency - 1).to_string()),
        "state" => Cow::Borrowed(state),
        "active" => Cow::Borrowed(if matches!(state, "106" | "107") {
            "false"
        } else {
            "true"
        }),
        "assigned_to" => reference(database, "sys_user", random(24), 4),
        "cmdb_ci" => reference(database, "cmdb_ci", random(25), 2),
        _ => Cow::Borrowed(""),
    }
}

fn change_request(
    database: &Database,
    column: &str,
    random: &dyn Fn(u64) -> u64,
    pick: &dyn Fn(u64, &'static [&'static str]) -> Cow<'static, str>,
    created: i64,
) -> Cow<'static, str> {
    let state = schema::CHANGE_STATE[(random(12) % 8) as usize].0;
    let start = created + 86_400 * (1 + (random(13) % 14) as i64);
    match column {
        "short_description" => Cow::Owned(format!("{} {}", pick(20, CHANGES), pick(21, SUBJECTS))),
        "type" => Cow::Borrowed(schema::CHANGE_TYPE[(random(14) % 3) as usize].0),
        "state" => Cow::Borrowed(state),
        "priority" => Cow::Owned((1 + random(15) % 4).to_string()),
        "risk" => Cow::Borrowed(schema::RISK[(random(16) % 3) as usize].0),
        "active" => Cow::Borrowed(if matches!(state, "3" | "4") {
            "false"
        } else {
            "true"
        }),
        "assigned_to" => reference(database, "sys_user", random(24), 5),
        "cmdb_ci" => reference(database, "cmdb_ci", random(25), 0),
        "start_date" => Cow::Owned(glide_date_time(start)),
        "end_date" => Cow::Owned(glide_date_time(
            start + 3600 * (1 + (random(17) % 8) as i64),
        )),
        _ => Cow::Borrowed(""),
    }
}

fn sys_user(
    index: u64,
    column: &str,
    random: &dyn Fn(u64) -> u64,
    pick: &dyn Fn(u64, &'static [&'static str]) -> Cow<'static, str>,
) -> Cow<'static, str> {
    let first = FIRST_NAMES[(index % FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[((index / FIRST_NAMES.len() as u64) % LAST_NAMES.len() as u64) as usize];
    let round = index / (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
    let suffix = if round == 0 {
        String::new()
    } else {
        round.to_string()
    };
    match column {
        "user_name" => Cow::Owned(format!(
            "{}.{}{suffix}",
            first.to_lowercase(),
            last.to_lowercase()
        )),
        "first_name" => Cow::Borrowed(first),
        "last_name" => Cow::Borrowed(last),
        "name" => Cow::Owned(if round == 0 {
            format!("{first} {last}")
        } else {
            format!("{first} {last} {round}")
        }),
        "email" => Cow::Owned(format!(
            "{}.{}{suffix}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        )),
        "title" => pick(30, TITLES),
        "department" => pick(31, DEPARTMENTS),
        "active" => Cow::Borrowed(if random(32) % 20 == 0 {
            "false"
        } else {
            "true"
        }),
        "locked_out" => Cow::Borrowed("false"),
        _ => Cow::Borrowed(""),
    }
}

fn cmdb_ci(
    index: u64,
    column: &str,
    random: &dyn Fn(u64) -> u64,
    created: i64,
) -> Cow<'static, str> {
    let (kind, category) = CI_KINDS[(random(40) % CI_KINDS.len() as u64) as usize];
    match column {
        "name" => Cow::Owned(format!("{kind}-{:05}", index + 1)),
        "serial_number" => Cow::Owned(format!("SN{:010X}", random(41) % 0xFF_FFFF_FFFF)),
        "ip_address" => {
            let address = random(42);
            Cow::Owned(format!(
                "10.{}.{}.{}",
                (address >> 16) % 256,
                (address >> 8) % 256,
                1 + address % 254
            ))
        }
        "category" => Cow::Borrowed(category),
        "operational_status" => {
            Cow::Borrowed(schema::OPERATIONAL_STATUS[(random(43) % 4) as usize].0)
        }
        "install_date" => Cow::Owned(glide_date_time(
            created - 86_400 * (random(44) % 900) as i64,
        )),
        _ => Cow::Borrowed(""),
    }
}

/// A reference to a generated row of `target`, or `""` one time in `empty_one_in` (never when
/// zero) or when the target has no generated rows.
fn reference(
    database: &Database,
    target: &str,
    random: u64,
    empty_one_in: u64,
) -> Cow<'static, str> {
    let Some(table) = database.tables.get(target) else {
        return Cow::Borrowed("");
    };
    if table.generated == 0 || (empty_one_in != 0 && random % empty_one_in == 0) {
        return Cow::Borrowed("");
    }
    Cow::Owned(table.sys_id_of((random >> 8) % table.generated))
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
