//! The data sets the emulator starts with: rows generated from the seed alone
//! ([`Dataset::Generated`]), or those rows plus the well-known demo records of a personal
//! developer instance ([`Dataset::Pdi`], `--dataset pdi`), so that scripts and tests written
//! against a PDI find the `admin` user, the demo groups and people under their published
//! sys_ids.
//!
//! Every sys_id here is one that ServiceNow's demo data ships with and that is widely quoted in
//! public scripts, tests and ServiceNow's own documentation samples (the admin user's
//! `6816f79cc0a8016401c5a33be04be441` above all). Fields the sources do not give (titles, the
//! memberships' own sys_ids) are the emulator's choice; see `docs/emulator.md`.

/// Which records the emulator starts with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum Dataset {
    /// Generated rows only (names such as "Beth Anglin" appear, with sys_ids from the seed).
    #[default]
    Generated,
    /// The generated rows plus a personal developer instance's well-known demo records under
    /// their published sys_ids; generated people and groups take numbered names ("Beth Anglin
    /// 1") so no name is ambiguous, and generated task numbers start at `…0010001`, where a
    /// PDI's own new records start.
    Pdi,
}

impl Dataset {
    /// The number of the first generated task record (`INC0000001`, or `INC0010001` on a PDI).
    pub(crate) fn first_number(self) -> u64 {
        match self {
            Self::Generated => 1,
            Self::Pdi => 10_001,
        }
    }

    /// How many rounds of generated names the well-known records hold.
    pub(crate) fn name_rounds_taken(self) -> u64 {
        match self {
            Self::Generated => 0,
            Self::Pdi => 1,
        }
    }
}

/// `admin`, "System Administrator".
pub const ADMIN_SYS_ID: &str = "6816f79cc0a8016401c5a33be04be441";
/// `itil`, "ITIL User".
pub const ITIL_SYS_ID: &str = "681b365ec0a80164000fb0b05854a0cd";
/// `abel.tuter`, "Abel Tuter".
pub const ABEL_TUTER_SYS_ID: &str = "62826bf03710200044e0bfc8bcbe5df1";
/// `beth.anglin`, "Beth Anglin".
pub const BETH_ANGLIN_SYS_ID: &str = "46d44a23a9fe19810012d100cca80666";
/// `fred.luddy`, "Fred Luddy".
pub const FRED_LUDDY_SYS_ID: &str = "5137153cc611227c000bbd1bd8cd2005";
/// `david.loo`, "David Loo".
pub const DAVID_LOO_SYS_ID: &str = "5137153cc611227c000bbd1bd8cd2007";
/// The "Service Desk" group.
pub const SERVICE_DESK_GROUP_SYS_ID: &str = "d625dccec0a8016700a222a0f7900d06";
/// The "Hardware" group.
pub const HARDWARE_GROUP_SYS_ID: &str = "8a5055c9c61122780043563ef53438e3";
/// The "Software" group.
pub const SOFTWARE_GROUP_SYS_ID: &str = "8a4dde73c6112278017a6a4baf547aa7";
/// The "Network" group.
pub const NETWORK_GROUP_SYS_ID: &str = "287ebd7da9fe198100f92cc8d1d2154e";
/// The "Database" group.
pub const DATABASE_GROUP_SYS_ID: &str = "287ee6fea9fe198100ada7950d0b1b73";
/// Demo incident `INC0000003`, "Wireless access is down in my area".
pub const INC0000003_SYS_ID: &str = "e8caedcbc0a80164017df472f39eaed1";

/// When the demo records were created (a fixed past time, as on a fresh PDI).
pub(crate) const CREATED_ON: &str = "2016-09-25 14:41:46";

/// The demo records as (table, field → value), in insertion order (references point backwards).
pub(crate) fn records() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let user = |sys_id, user_name, first, last, name, email, title| {
        (
            "sys_user",
            vec![
                ("sys_id", sys_id),
                ("user_name", user_name),
                ("first_name", first),
                ("last_name", last),
                ("name", name),
                ("email", email),
                ("title", title),
                ("department", "IT"),
            ],
        )
    };
    let group = |sys_id, name, description, manager| {
        (
            "sys_user_group",
            vec![
                ("sys_id", sys_id),
                ("name", name),
                ("description", description),
                ("manager", manager),
                ("type", "itil"),
            ],
        )
    };
    let member = |user, group| ("sys_user_grmember", vec![("user", user), ("group", group)]);
    vec![
        user(
            ADMIN_SYS_ID,
            "admin",
            "System",
            "Administrator",
            "System Administrator",
            "admin@example.com",
            "System Administrator",
        ),
        user(
            ITIL_SYS_ID,
            "itil",
            "ITIL",
            "User",
            "ITIL User",
            "itil@example.com",
            "Service Desk Analyst",
        ),
        user(
            ABEL_TUTER_SYS_ID,
            "abel.tuter",
            "Abel",
            "Tuter",
            "Abel Tuter",
            "abel.tuter@example.com",
            "Software Engineer",
        ),
        user(
            BETH_ANGLIN_SYS_ID,
            "beth.anglin",
            "Beth",
            "Anglin",
            "Beth Anglin",
            "beth.anglin@example.com",
            "Service Desk Analyst",
        ),
        user(
            FRED_LUDDY_SYS_ID,
            "fred.luddy",
            "Fred",
            "Luddy",
            "Fred Luddy",
            "fred.luddy@example.com",
            "IT Manager",
        ),
        user(
            DAVID_LOO_SYS_ID,
            "david.loo",
            "David",
            "Loo",
            "David Loo",
            "david.loo@example.com",
            "Network Engineer",
        ),
        group(
            SERVICE_DESK_GROUP_SYS_ID,
            "Service Desk",
            "First line support for every caller",
            BETH_ANGLIN_SYS_ID,
        ),
        group(
            HARDWARE_GROUP_SYS_ID,
            "Hardware",
            "Laptops, desktops, printers and servers",
            FRED_LUDDY_SYS_ID,
        ),
        group(
            SOFTWARE_GROUP_SYS_ID,
            "Software",
            "Business applications and licences",
            DAVID_LOO_SYS_ID,
        ),
        group(
            NETWORK_GROUP_SYS_ID,
            "Network",
            "LAN, WAN, VPN and Wi-Fi",
            DAVID_LOO_SYS_ID,
        ),
        group(
            DATABASE_GROUP_SYS_ID,
            "Database",
            "Database administration",
            FRED_LUDDY_SYS_ID,
        ),
        member(BETH_ANGLIN_SYS_ID, SERVICE_DESK_GROUP_SYS_ID),
        member(ITIL_SYS_ID, SERVICE_DESK_GROUP_SYS_ID),
        member(FRED_LUDDY_SYS_ID, HARDWARE_GROUP_SYS_ID),
        member(DAVID_LOO_SYS_ID, SOFTWARE_GROUP_SYS_ID),
        member(DAVID_LOO_SYS_ID, NETWORK_GROUP_SYS_ID),
        member(ABEL_TUTER_SYS_ID, DATABASE_GROUP_SYS_ID),
        (
            "incident",
            vec![
                ("sys_id", INC0000003_SYS_ID),
                ("number", "INC0000003"),
                ("short_description", "Wireless access is down in my area"),
                ("caller_id", ITIL_SYS_ID),
                ("category", "network"),
                ("impact", "1"),
                ("urgency", "1"),
                ("priority", "1"),
                ("state", "2"),
                ("active", "true"),
                ("assigned_to", BETH_ANGLIN_SYS_ID),
                ("assignment_group", NETWORK_GROUP_SYS_ID),
                ("opened_at", CREATED_ON),
            ],
        ),
    ]
}
