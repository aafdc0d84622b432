//! Options of reads and writes (`sysparm_*` parameters), as config structs with defaults.

use crate::FieldName;

/// Which Table API version the paths name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ApiVersion {
    /// `/api/now/v1/table/…`: a query that matches nothing is a 404.
    V1,
    /// `/api/now/v2/table/…` (the default): a query that matches nothing is `200 []`.
    #[default]
    V2,
}

/// How [`TableClient::count`](crate::TableClient::count) asks for `X-Total-Count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CountMethod {
    /// `GET` with `sysparm_limit=1&sysparm_fields=sys_id` (the default): one small row comes
    /// back with the count.
    #[default]
    Get,
    /// `HEAD` with the same parameters: no body at all. Whether an instance sends
    /// `X-Total-Count` on `HEAD` is not documented (`servicenow-api-more.md` §4), so an answer
    /// without it is followed by the `GET`.
    Head,
}

/// `sysparm_display_value`: stored values, display values, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DisplayValues {
    /// `false` (the default): stored values (sys_ids, choice values).
    #[default]
    Stored,
    /// `true`: display values only.
    Display,
    /// `all`: `{"display_value", "value", "link"}` for every field (see [`DisplayValue`](crate::DisplayValue)).
    All,
}

/// `sysparm_view`: which UI view's fields to return (`sysparm_fields` takes precedence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `desktop`.
    Desktop,
    /// `mobile`.
    Mobile,
    /// `both`.
    Both,
}

/// Options of a read (list, get, stream, count).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// `sysparm_fields`: only these fields (all when empty).
    pub fields: Vec<FieldName>,
    /// `sysparm_display_value`.
    pub display_values: DisplayValues,
    /// `sysparm_exclude_reference_link=true`: references without their `link`.
    pub exclude_reference_link: bool,
    /// `sysparm_no_count=true`: skip the instance's `select count(*)` (no `X-Total-Count`).
    pub no_count: bool,
    /// `sysparm_view`.
    pub view: Option<View>,
    /// `sysparm_suppress_pagination_header=true`: the instance sends no `Link` header (it still
    /// sends `X-Total-Count` unless [`no_count`](Self::no_count)); a stream then ends by the
    /// count or an empty page. PySNC sends it on every list ("required for large queries").
    pub suppress_pagination_header: bool,
    /// `sysparm_query_no_domain=true`: query across every domain the user may see (domain
    /// separation). The instance requires the `admin` or `query_no_domain_table_api` role.
    pub query_no_domain: bool,
    /// `sysparm_query_category`: the name of the query category to use (documented only as
    /// "Name of the category to use for queries"; categories in `sys_db_category` can route
    /// reads to a read replica). Sent percent-encoded, like every value.
    pub query_category: Option<String>,
}

/// Options of a write (create, update, replace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `sysparm_fields`: which fields the response record carries (all when empty).
    pub fields: Vec<FieldName>,
    /// `sysparm_display_value` of the returned record.
    pub display_values: DisplayValues,
    /// `sysparm_exclude_reference_link=true` on the returned record.
    pub exclude_reference_link: bool,
    /// `sysparm_input_display_value=true`: the values sent are display values (needed to write
    /// encrypted fields; dates are then read in the user's time zone).
    pub input_display_value: bool,
}

/// Pairs of `sysparm_*` parameters, in a fixed order, for the request builders.
pub(crate) fn read_parameters(options: &ReadOptions, parameters: &mut Vec<(&'static str, String)>) {
    push_fields(&options.fields, parameters);
    push_display_values(options.display_values, parameters);
    if options.exclude_reference_link {
        parameters.push(("sysparm_exclude_reference_link", "true".into()));
    }
    if options.no_count {
        parameters.push(("sysparm_no_count", "true".into()));
    }
    if let Some(view) = options.view {
        let name = match view {
            View::Desktop => "desktop",
            View::Mobile => "mobile",
            View::Both => "both",
        };
        parameters.push(("sysparm_view", name.into()));
    }
    if options.suppress_pagination_header {
        parameters.push(("sysparm_suppress_pagination_header", "true".into()));
    }
    if options.query_no_domain {
        parameters.push(("sysparm_query_no_domain", "true".into()));
    }
    if let Some(category) = &options.query_category {
        parameters.push(("sysparm_query_category", category.clone()));
    }
}

pub(crate) fn write_parameters(
    options: &WriteOptions,
    parameters: &mut Vec<(&'static str, String)>,
) {
    push_fields(&options.fields, parameters);
    push_display_values(options.display_values, parameters);
    if options.exclude_reference_link {
        parameters.push(("sysparm_exclude_reference_link", "true".into()));
    }
    if options.input_display_value {
        parameters.push(("sysparm_input_display_value", "true".into()));
    }
}

fn push_fields(fields: &[FieldName], parameters: &mut Vec<(&'static str, String)>) {
    if !fields.is_empty() {
        let joined = fields
            .iter()
            .map(FieldName::as_str)
            .collect::<Vec<_>>()
            .join(",");
        parameters.push(("sysparm_fields", joined));
    }
}

fn push_display_values(
    display_values: DisplayValues,
    parameters: &mut Vec<(&'static str, String)>,
) {
    match display_values {
        DisplayValues::Stored => (),
        DisplayValues::Display => parameters.push(("sysparm_display_value", "true".into())),
        DisplayValues::All => parameters.push(("sysparm_display_value", "all".into())),
    }
}
