//! Types that exist only to describe inputs in the OpenAPI document precisely (enumerations and
//! patterns), so a client generated from it, or a fuzzer, sends what the API reads. The
//! handlers parse the raw strings themselves, with errors that name the field.
#![allow(dead_code)] // Read by the document only.

use utoipa::ToSchema;

/// A market.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum MarketName {
    Spot,
    Usdm,
}

/// A bar length.
#[derive(ToSchema)]
pub enum TimeframeName {
    #[schema(rename = "1m")]
    M1,
    #[schema(rename = "5m")]
    M5,
    #[schema(rename = "15m")]
    M15,
    #[schema(rename = "1h")]
    H1,
    #[schema(rename = "4h")]
    H4,
    #[schema(rename = "1d")]
    D1,
}

/// A gap's status.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum GapStatusName {
    Open,
    Repaired,
    Unrepairable,
}

/// A run's status.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RunStatusName {
    Running,
    Ok,
    Failed,
    Interrupted,
}

/// A job.
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum JobName {
    Sync,
    Backfill,
    Indicators,
    GapsFill,
    Quality,
    Universe,
    Retention,
    Health,
}

/// An answer format.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum FormatName {
    Json,
    Csv,
}

/// An asset or a symbol (BTC or BTCUSDT): a string with a pattern, written by hand because the
/// derive takes no pattern on a newtype.
pub struct SymbolName;

impl utoipa::PartialSchema for SymbolName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[A-Za-z0-9]{1,32}$"))
            .description(Some("An asset or a symbol: BTC or BTCUSDT"))
            .into()
    }
}

impl ToSchema for SymbolName {
    fn name() -> std::borrow::Cow<'static, str> {
        "SymbolName".into()
    }
}
