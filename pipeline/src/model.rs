//! The common data model: the one place that defines
//!
//! * the **input fields** partner columns map to ([`Field`]), and which of
//!   them are identifiers that `protect` must drop;
//! * the **staged record** every input row becomes after `protect`
//!   ([`staged_schema`]);
//! * the **warehouse tables** analysts query ([`TABLES`]), with every column's
//!   type, meaning and source. `docs/data-model.md` is generated from here
//!   (`braid docs data-model`) and a test keeps the two equal.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use serde::Deserialize;

/// What kind of value a common-schema field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    /// A value from a controlled vocabulary (partner codes are mapped to it).
    Code,
    Date,
    Bool,
    Number,
    /// Money in dollars as written by the partner; stored as integer cents.
    Money,
    /// A year and quarter such as `2024Q3`.
    Quarter,
}

/// Where a field goes after `protect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRole {
    /// A direct identifier: normalized, hashed and dropped in `protect`.
    Identifier,
    /// A person attribute kept in the analytics zone (possibly coarsened).
    Attribute,
    /// A fact about participation, services, tests, credentials or wages.
    Fact,
    /// The record's consent flag.
    Consent,
}

macro_rules! fields {
    ($( $variant:ident = $name:literal, $ty:ident, $role:ident, $doc:literal; )*) => {
        /// A field of the common schema that a partner column can map to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Field { $( #[doc = $doc] $variant, )* }

        impl Field {
            pub const ALL: &'static [Field] = &[ $( Field::$variant, )* ];
            pub fn name(self) -> &'static str { match self { $( Field::$variant => $name, )* } }
            pub fn field_type(self) -> FieldType { match self { $( Field::$variant => FieldType::$ty, )* } }
            pub fn role(self) -> FieldRole { match self { $( Field::$variant => FieldRole::$role, )* } }
            pub fn doc(self) -> &'static str { match self { $( Field::$variant => $doc, )* } }
        }
    };
}

fields! {
    RecordId = "record_id", Text, Identifier, "The partner's own client, student or case id.";
    GivenName = "given_name", Text, Identifier, "Given (first) name or names.";
    MiddleName = "middle_name", Text, Identifier, "Middle name(s).";
    FamilyName = "family_name", Text, Identifier, "Family name(s) (surname).";
    FullName = "full_name", Text, Identifier, "Whole name in one column, when the partner does not split it (see `name_order`).";
    Dob = "dob", Date, Identifier, "Date of birth.";
    Ssn = "ssn", Text, Identifier, "SSN or ITIN, with or without dashes.";
    Phone = "phone", Text, Identifier, "Phone number.";
    Email = "email", Text, Identifier, "E-mail address.";
    Street = "street", Text, Identifier, "Street address (number, street, unit).";
    City = "city", Text, Identifier, "City of residence.";
    Zip = "zip", Text, Identifier, "ZIP code; only the 3-digit prefix is kept.";
    Sex = "sex", Code, Attribute, "Sex or gender as recorded (female, male, nonbinary, unknown); used for matching and kept as `gender`.";
    County = "county", Code, Attribute, "County of residence.";
    HomeLanguage = "home_language", Code, Attribute, "Home or first language.";
    EnglishLearner = "english_learner", Bool, Attribute, "English language learner at entry (PIRL 803).";
    ForeignBorn = "foreign_born", Bool, Attribute, "Born outside the United States.";
    RefugeeStatus = "refugee_status", Code, Attribute, "Humanitarian status: refugee, asylee, parolee, siv, tps, other, none.";
    CountryOfOrigin = "country_of_origin", Code, Attribute, "Country of birth or origin.";
    ArrivalDate = "arrival_date", Date, Attribute, "Date of arrival in the United States; only the year is kept.";
    EducationLevel = "education_level", Code, Attribute, "Highest education completed at entry.";
    Consent = "consent", Bool, Consent, "Consent to share and link the record.";
    Program = "program", Code, Fact, "Program or class type (esl, abe, ase, cte, wioa_adult, ...).";
    FundingStream = "funding_stream", Code, Fact, "Funding stream (wioa_title_i, wioa_title_ii, rss, ...).";
    EntryDate = "entry_date", Date, Fact, "Date of program entry (PIRL 900).";
    ExitDate = "exit_date", Date, Fact, "Date of program exit as reported by the partner (PIRL 901).";
    ExitReason = "exit_reason", Code, Fact, "Reason for exit, incl. the PIRL 923 exclusions.";
    Hours = "hours", Number, Fact, "Contact or attendance hours.";
    ServiceType = "service_type", Code, Fact, "Type of service delivered.";
    ServiceDate = "service_date", Date, Fact, "Date of the service.";
    ReferralTo = "referral_to", Code, Fact, "Partner id the person was referred to.";
    ReferralDate = "referral_date", Date, Fact, "Date of the referral.";
    ReferralOutcome = "referral_outcome", Code, Fact, "Outcome of the referral (enrolled, declined, pending, ...).";
    Test = "test", Code, Fact, "Assessment (casas_reading, casas_listening, best_plus_2, ...).";
    TestForm = "test_form", Text, Fact, "Test form.";
    TestDate = "test_date", Date, Fact, "Date the test was taken.";
    ScaleScore = "scale_score", Number, Fact, "Scale score.";
    CredentialType = "credential_type", Code, Fact, "Type of credential earned (PIRL 1800).";
    CredentialDate = "credential_date", Date, Fact, "Date the credential was earned.";
    WagePeriod = "wage_period", Quarter, Fact, "Year and quarter of a wage record (2024Q3, 20243, 2024-3).";
    WageYear = "wage_year", Number, Fact, "Year of a wage record, when year and quarter are separate columns.";
    WageQuarter = "wage_quarter", Number, Fact, "Quarter (1-4) of a wage record.";
    Wages = "wages", Money, Fact, "Wages paid in the quarter, in dollars.";
    EmployerId = "employer_id", Text, Fact, "Employer id (FEIN or UI account); kept only as a keyed hash.";
    WageSource = "wage_source", Code, Fact, "ui_wage, supplemental or self_report.";
    MilestoneBankAccount = "milestone_bank_account", Bool, Fact, "ALLIES economic security: has a bank account.";
    MilestoneHealthCoverage = "milestone_health_coverage", Bool, Fact, "ALLIES health: has health insurance.";
    MilestoneDriversLicense = "milestone_drivers_license", Bool, Fact, "ALLIES credentials and residency: US driver's license.";
    MilestoneItinTaxes = "milestone_itin_taxes", Bool, Fact, "ALLIES credentials and residency: has an ITIN and files taxes.";
    MilestoneCitizenship = "milestone_citizenship", Bool, Fact, "ALLIES credentials and residency: naturalized.";
    MilestoneCivic = "milestone_civic", Bool, Fact, "ALLIES civic participation: volunteering, voting, community group.";
    MilestoneChildCare = "milestone_child_care", Bool, Fact, "ALLIES children and family: access to child care.";
    MilestoneDate = "milestone_date", Date, Fact, "Date the milestones were recorded.";
}

impl Field {
    pub fn is_identifier(self) -> bool {
        self.role() == FieldRole::Identifier
    }

    /// The milestone fields and their names in the `milestone` table.
    pub fn milestone_name(self) -> Option<&'static str> {
        self.name().strip_prefix("milestone_").filter(|n| *n != "date")
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// Paths of the versioned reference tables. Each defaults to the copy
/// compiled into braid from `config/`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceConfig {
    /// NRS educational functioning level cut scores (`config/nrs_levels.toml`).
    pub nrs_levels: Option<String>,
    /// Name variants and nicknames (`config/name_variants.toml`).
    pub name_variants: Option<String>,
}

// ---------------------------------------------------------------------------
// Staged records
// ---------------------------------------------------------------------------

/// Arrow type of a non-identifier field in the staged record.
pub fn staged_type(f: Field) -> DataType {
    match f.field_type() {
        FieldType::Text | FieldType::Code | FieldType::Quarter => DataType::Utf8,
        FieldType::Date => DataType::Date32,
        FieldType::Bool => DataType::Boolean,
        FieldType::Number => DataType::Float64,
        FieldType::Money => DataType::Int64,
    }
}

/// The staged-record schema: provenance columns, then every non-identifier
/// field. Identifiers never appear here; `birth_year`, `zip3` and
/// `arrival_year` are the coarsened forms kept instead.
pub fn staged_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = vec![
                ArrowField::new("record_key", DataType::Utf8, false),
                ArrowField::new("partner", DataType::Utf8, false),
                ArrowField::new("feed", DataType::Utf8, false),
                ArrowField::new("file_id", DataType::Utf8, false),
                ArrowField::new("line", DataType::UInt64, false),
                ArrowField::new("consent", DataType::Boolean, false),
                ArrowField::new("birth_year", DataType::Int32, true),
                ArrowField::new("zip3", DataType::Utf8, true),
                ArrowField::new("arrival_year", DataType::Int32, true),
                ArrowField::new("employer_key", DataType::Utf8, true),
                ArrowField::new("wage_year_quarter", DataType::Utf8, true),
            ];
            for f in Field::ALL {
                if f.is_identifier()
                    || matches!(
                        f,
                        Field::Consent
                            | Field::ArrivalDate
                            | Field::EmployerId
                            | Field::WagePeriod
                            | Field::WageYear
                            | Field::WageQuarter
                    )
                {
                    continue;
                }
                let name = if *f == Field::Sex { "gender" } else { f.name() };
                fields.push(ArrowField::new(name, staged_type(*f), true));
            }
            Arc::new(Schema::new(fields))
        })
        .clone()
}

// ---------------------------------------------------------------------------
// Warehouse tables (analytics zone)
// ---------------------------------------------------------------------------

/// A column of a warehouse table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    pub meaning: &'static str,
    pub source: &'static str,
}

/// Column types used by the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Utf8,
    Int32,
    Int64,
    Float64,
    Bool,
    Date,
    Timestamp,
}

impl ColType {
    pub fn arrow(self) -> DataType {
        match self {
            ColType::Utf8 => DataType::Utf8,
            ColType::Int32 => DataType::Int32,
            ColType::Int64 => DataType::Int64,
            ColType::Float64 => DataType::Float64,
            ColType::Bool => DataType::Boolean,
            ColType::Date => DataType::Date32,
            ColType::Timestamp => DataType::Timestamp(
                datafusion::arrow::datatypes::TimeUnit::Microsecond,
                Some("UTC".into()),
            ),
        }
    }
    pub fn sql(self) -> &'static str {
        match self {
            ColType::Utf8 => "VARCHAR",
            ColType::Int32 => "INT",
            ColType::Int64 => "BIGINT",
            ColType::Float64 => "DOUBLE",
            ColType::Bool => "BOOLEAN",
            ColType::Date => "DATE",
            ColType::Timestamp => "TIMESTAMP (UTC)",
        }
    }
}

/// A warehouse table.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub zone: Zone,
    pub grain: &'static str,
    pub columns: &'static [Column],
}

/// Analysts query the analytics zone; only `braid link` reads the linkage zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Analytics,
    Linkage,
}

impl Table {
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| ArrowField::new(c.name, c.ty.arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }
}

macro_rules! col {
    ($name:literal, $ty:ident, $null:literal, $meaning:literal, $source:literal) => {
        Column { name: $name, ty: ColType::$ty, nullable: $null, meaning: $meaning, source: $source }
    };
}

const PERSON_KEY: Column =
    col!("person_key", Utf8, false, "Pseudonymous person key: a random surrogate, stable across nights.", "link");
const PERSON_KEY_NULLABLE: Column = col!(
    "person_key",
    Utf8,
    true,
    "Pseudonymous person key; null when the record has no consent to link.",
    "link"
);
/// The person key of a fact table: declared nullable, as in `link`, but a
/// record without consent to link has no person key and its rows are left
/// out of the fact tables (docs/decisions.md, decision 4).
const PERSON_KEY_FACT: Column = col!(
    "person_key",
    Utf8,
    true,
    "Pseudonymous person key. Never null in this table: the rows of a record without consent to link (which has no person key) are left out, see `link.consent` and docs/decisions.md, decision 4. Declared nullable in the schema.",
    "link"
);
const RECORD_KEY: Column = col!(
    "record_key",
    Utf8,
    false,
    "Keyed hash of (partner, partner record id); never the id itself.",
    "protect"
);
const PARTNER: Column = col!("partner", Utf8, false, "Partner id from the configuration.", "config");

pub const PERSON: Table = Table {
    name: "person",
    zone: Zone::Analytics,
    grain: "one row per linked person",
    columns: &[
        PERSON_KEY,
        col!("birth_year", Int32, true, "Year of birth (most frequent across the person's records); never the full date.", "dob"),
        col!("gender", Utf8, true, "female, male, nonbinary or unknown.", "sex"),
        col!("county", Utf8, true, "County of residence (most recent record).", "county"),
        col!("zip3", Utf8, true, "First three digits of the ZIP code.", "zip"),
        col!("home_language", Utf8, true, "Home or first language.", "home_language"),
        col!("english_learner", Bool, true, "English learner at entry on any record.", "english_learner"),
        col!("foreign_born", Bool, true, "Born outside the United States on any record.", "foreign_born"),
        col!("refugee_status", Utf8, true, "Humanitarian status (refugee, asylee, parolee, siv, tps, other, none).", "refugee_status"),
        col!("country_of_origin", Utf8, true, "Country of origin.", "country_of_origin"),
        col!("arrival_year", Int32, true, "Year of arrival in the US.", "arrival_date"),
        col!("education_level", Utf8, true, "Highest education at entry.", "education_level"),
        col!("partner_count", Int32, false, "Number of partners that hold a record of this person.", "link"),
        col!("record_count", Int32, false, "Number of partner records linked to this person.", "link"),
        col!("first_seen", Date, true, "Earliest entry, service or test date across partners.", "facts"),
    ],
};

pub const PARTICIPATION: Table = Table {
    name: "participation",
    zone: Zone::Analytics,
    grain: "one row per program enrollment",
    columns: &[
        PERSON_KEY_FACT,
        RECORD_KEY,
        PARTNER,
        col!("program", Utf8, true, "Program or class type.", "program"),
        col!("funding_stream", Utf8, true, "Funding stream.", "funding_stream"),
        col!("entry_date", Date, true, "Date of program entry.", "entry_date"),
        col!("exit_date", Date, true, "Exit date reported by the partner.", "exit_date"),
        col!("last_service_date", Date, true, "Last activity (entry, exit, service, test or milestone date) of this person at this partner in the period of participation this entry belongs to; a gap of more than 90 days without activity ends a period.", "facts"),
        col!("wioa_exit_date", Date, true, "WIOA exit: the period's last activity once 90 days have passed with no service (null while still active); a person who left and came back has an exit for each period.", "derived"),
        col!("exit_quarter", Utf8, true, "Year and quarter of `wioa_exit_date` (e.g. 2024Q3).", "derived"),
        col!("exit_reason", Utf8, true, "Reason for exit.", "exit_reason"),
        col!("excluded", Bool, false, "True when the exit reason is a PIRL 923 exclusion (institutionalized, health, deceased, reservist, foster youth).", "derived"),
        col!("hours", Float64, true, "Contact or attendance hours.", "hours"),
        col!("entry_quarter", Utf8, true, "Year and quarter of entry.", "derived"),
        col!("program_year", Utf8, true, "WIOA program year of entry (PY2024 runs July 2024 to June 2025).", "derived"),
    ],
};

pub const SERVICE: Table = Table {
    name: "service",
    zone: Zone::Analytics,
    grain: "one row per service delivered",
    columns: &[
        PERSON_KEY_FACT,
        RECORD_KEY,
        PARTNER,
        col!("service_type", Utf8, true, "Type of service.", "service_type"),
        col!("service_date", Date, true, "Date of service.", "service_date"),
    ],
};

pub const REFERRAL: Table = Table {
    name: "referral",
    zone: Zone::Analytics,
    grain: "one row per referral",
    columns: &[
        PERSON_KEY_FACT,
        RECORD_KEY,
        col!("from_partner", Utf8, false, "Partner that made the referral.", "config"),
        col!("to_partner", Utf8, true, "Partner the person was referred to.", "referral_to"),
        col!("referral_date", Date, true, "Date of referral.", "referral_date"),
        col!("outcome", Utf8, true, "Outcome reported by the referring partner.", "referral_outcome"),
        col!("enrolled_date", Date, true, "First entry date at the receiving partner on or after the referral (the warm handoff).", "derived"),
        col!("days_to_enrollment", Int32, true, "Days from referral to that enrollment.", "derived"),
    ],
};

pub const ASSESSMENT: Table = Table {
    name: "assessment",
    zone: Zone::Analytics,
    grain: "one row per test taken",
    columns: &[
        PERSON_KEY_FACT,
        RECORD_KEY,
        PARTNER,
        col!("test", Utf8, true, "Assessment.", "test"),
        col!("form", Utf8, true, "Test form.", "test_form"),
        col!("test_date", Date, true, "Date taken.", "test_date"),
        col!("scale_score", Float64, true, "Scale score.", "scale_score"),
        col!("nrs_level", Int32, true, "NRS educational functioning level (ESL 1-6) from the versioned cut-score table.", "config/nrs_levels.toml"),
        col!("nrs_table", Utf8, true, "Version of the cut-score table used.", "config/nrs_levels.toml"),
    ],
};

pub const CREDENTIAL: Table = Table {
    name: "credential",
    zone: Zone::Analytics,
    grain: "one row per credential earned",
    columns: &[
        PERSON_KEY_FACT,
        RECORD_KEY,
        PARTNER,
        col!("credential_type", Utf8, true, "Type of credential.", "credential_type"),
        col!("credential_date", Date, true, "Date earned.", "credential_date"),
    ],
};

pub const EMPLOYMENT: Table = Table {
    name: "employment",
    zone: Zone::Analytics,
    grain: "one row per person, employer and quarter",
    columns: &[
        PERSON_KEY_FACT,
        RECORD_KEY,
        PARTNER,
        col!("year_quarter", Utf8, false, "Year and quarter of the wages (2024Q3).", "wage_period"),
        col!("wages_cents", Int64, false, "Wages in the quarter, integer cents.", "wages"),
        col!("employer_key", Utf8, true, "Keyed hash of the employer id.", "employer_id"),
        col!("source", Utf8, true, "ui_wage, supplemental or self_report.", "wage_source"),
    ],
};

pub const MILESTONE: Table = Table {
    name: "milestone",
    zone: Zone::Analytics,
    grain: "one row per milestone recorded",
    columns: &[
        PERSON_KEY_FACT,
        RECORD_KEY,
        PARTNER,
        col!("milestone", Utf8, false, "bank_account, health_coverage, drivers_license, itin_taxes, citizenship, civic, child_care.", "milestone_*"),
        col!("achieved", Bool, false, "Whether the milestone is met.", "milestone_*"),
        col!("goal_area", Utf8, false, "ALLIES goal area the milestone belongs to.", "derived"),
        col!("recorded_date", Date, true, "When it was recorded.", "milestone_date"),
    ],
};

pub const LINK: Table = Table {
    name: "link",
    zone: Zone::Analytics,
    grain: "one row per partner record",
    columns: &[
        RECORD_KEY,
        PARTNER,
        PERSON_KEY_NULLABLE,
        col!("former_key", Utf8, true, "The person key this record held before its cluster was merged into another; braid gives it back if the records are split apart again. Null once the record has it again, or if never merged.", "link"),
        col!("match_probability", Float64, true, "Posterior match probability of the record's strongest link into its cluster (1 for singletons).", "link"),
        col!("cluster_size", Int32, false, "Records in the person's cluster.", "link"),
        col!("consent", Bool, false, "False when the record has no consent to link; such records are never linked.", "consent"),
    ],
};

pub const PERSON_KEY_HISTORY: Table = Table {
    name: "person_key_history",
    zone: Zone::Analytics,
    grain: "one row per change of a person key",
    columns: &[
        col!("run_id", Utf8, false, "Run that made the change.", "run"),
        col!("event", Utf8, false, "born, merged, split, restored or retired.", "link"),
        col!("person_key", Utf8, false, "The key affected.", "link"),
        col!("related_key", Utf8, true, "For merged: the surviving key. For split and restored: the key it split from.", "link"),
        col!("records", Int32, false, "Records involved.", "link"),
        col!("at", Timestamp, false, "When.", "run"),
    ],
};

pub const INGEST_LEDGER: Table = Table {
    name: "ingest_ledger",
    zone: Zone::Analytics,
    grain: "one row per version of a partner file",
    columns: &[
        col!("file_id", Utf8, false, "Id of this file version.", "pull"),
        PARTNER,
        col!("feed", Utf8, false, "Feed of the partner.", "config"),
        col!("url", Utf8, false, "Where the file was read; the original stays there.", "pull"),
        col!("size_bytes", Int64, false, "Size in bytes.", "pull"),
        col!("content_hash", Utf8, false, "BLAKE3 hash of the content.", "pull"),
        col!("ingested_at", Timestamp, false, "When it was read.", "pull"),
        col!("rows_read", Int64, false, "Rows read.", "parse"),
        col!("rows_loaded", Int64, false, "Rows loaded (rows_read = rows_loaded + rows_quarantined).", "map"),
        col!("rows_quarantined", Int64, false, "Rows quarantined.", "map"),
        col!("status", Utf8, false, "loaded, rejected, superseded or vanished.", "pull"),
        col!("message", Utf8, true, "Why a file was rejected.", "parse"),
    ],
};

pub const QUARANTINE: Table = Table {
    name: "quarantine",
    zone: Zone::Analytics,
    grain: "one row per rejected input row, and one per value set aside in a loaded row",
    columns: &[
        col!("file_id", Utf8, false, "File version the row came from.", "pull"),
        PARTNER,
        col!("feed", Utf8, false, "Feed.", "config"),
        col!("url", Utf8, false, "File location.", "pull"),
        col!("line", Int64, false, "Line (CSV, NDJSON) or row (Excel, Parquet) number, 1-based, header included.", "parse"),
        col!("column", Utf8, true, "Partner column at fault.", "map"),
        col!("reason", Utf8, false, "Reason code (missing_required, bad_date, ...).", "map"),
        col!("detail", Utf8, false, "What to fix, without any value from the row.", "map"),
        col!("record_key", Utf8, true, "Keyed hash of the record id, when there is one.", "protect"),
        col!(
            "row_loaded",
            Bool,
            true,
            "False: the row was not loaded. True: the row was loaded and only the value in `column` was set aside (a birth date that is not a date, in the future, or of an implausible age).",
            "map"
        ),
    ],
};

/// The linkage zone: tokens and encodings. Only `braid link` reads it.
pub const IDENTITY: Table = Table {
    name: "identity",
    zone: Zone::Linkage,
    grain: "one row per distinct identity observation of a record, after the name-part dictionary entries they refer to (empty record key; docs/linkage.md)",
    columns: &[], // schema defined in protect::identity_schema
};

/// Analytics tables in the order `load` writes them.
pub const TABLES: &[&Table] = &[
    &PERSON,
    &PARTICIPATION,
    &SERVICE,
    &REFERRAL,
    &ASSESSMENT,
    &CREDENTIAL,
    &EMPLOYMENT,
    &MILESTONE,
    &LINK,
    &PERSON_KEY_HISTORY,
    &INGEST_LEDGER,
    &QUARANTINE,
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().copied().find(|t| t.name == name)
}

/// `docs/data-model.md`, generated from the definitions above.
pub fn data_model_markdown() -> String {
    use std::fmt::Write;
    let mut s = String::new();
    s.push_str("# Data model\n\n");
    s.push_str(
        "Generated by `braid docs data-model` from `pipeline/src/model.rs`; a test keeps it \
         equal to the code. Do not edit by hand.\n\n",
    );
    s.push_str(
        "The warehouse has two zones. The **analytics zone** below is what analysts query \
         (`braid sql`, DuckDB, pyarrow, Polars, Spark): person keys and attributes, never \
         identifiers, tokens or encodings. The **linkage zone** (`warehouse/linkage/`) holds \
         keyed match tokens and Bloom-filter encodings; only `braid link` reads it.\n\n",
    );
    s.push_str("Every table is a Delta Lake table under `<warehouse>/analytics/<table>`.\n\n");
    s.push_str("## Input fields\n\nPartner columns map to these fields in `[partner.feed.columns]`.\n\n");
    s.push_str("| field | type | kept as | meaning |\n|---|---|---|---|\n");
    for f in Field::ALL {
        let kept = match f.role() {
            FieldRole::Identifier => match f {
                Field::Dob => "birth year + match tokens",
                Field::Zip => "zip3 + match tokens",
                Field::RecordId => "record_key (keyed hash)",
                _ => "match tokens only (dropped)",
            },
            FieldRole::Attribute => "attribute",
            FieldRole::Fact => "fact",
            FieldRole::Consent => "consent flag",
        };
        let _ = writeln!(s, "| `{}` | {:?} | {} | {} |", f.name(), f.field_type(), kept, f.doc());
    }
    for t in TABLES {
        let _ = write!(s, "\n## `{}`\n\nGrain: {}.\n\n", t.name, t.grain);
        s.push_str("| column | type | null | meaning | source |\n|---|---|---|---|---|\n");
        for c in t.columns {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} |",
                c.name,
                c.ty.sql(),
                if c.nullable { "yes" } else { "no" },
                c.meaning,
                c.source
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_schema_has_no_identifier_columns() {
        let schema = staged_schema();
        for f in Field::ALL.iter().filter(|f| f.is_identifier()) {
            assert!(schema.field_with_name(f.name()).is_err(), "{} leaked into staging", f.name());
        }
    }

    #[test]
    fn docs_data_model_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/data-model.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == data_model_markdown(),
            "docs/data-model.md is stale: run `braid docs data-model > docs/data-model.md`"
        );
    }

    /// Only the `link` table holds records without a person key; every
    /// fact table leaves their rows out (sql/model/*.sql), and says so.
    #[test]
    fn only_the_link_table_says_person_key_may_be_null() {
        for t in TABLES {
            for c in t.columns.iter().filter(|c| c.name == "person_key") {
                let says_null = c.meaning.contains("null when");
                assert_eq!(says_null, t.name == "link", "{}.person_key: {}", t.name, c.meaning);
                if t.name != "link" && t.name != "person" && t.name != "person_key_history" {
                    let sql = std::fs::read_to_string(format!("{}/../sql/model/{}.sql", env!("CARGO_MANIFEST_DIR"), t.name)).unwrap();
                    assert!(sql.contains("person_key IS NOT NULL"), "{} keeps rows without a person key", t.name);
                }
            }
        }
    }

    #[test]
    fn analytics_tables_carry_no_identifier_names() {
        for t in TABLES {
            for c in t.columns {
                assert!(
                    !["given_name", "family_name", "dob", "ssn", "phone", "email", "street", "record_id"]
                        .contains(&c.name),
                    "{}.{}",
                    t.name,
                    c.name
                );
            }
        }
    }
}
