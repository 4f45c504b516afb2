//! Creating the table from `table::spec()` and checking an existing one against it.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableDescription,
};

use shared::error::{StoreError, classify};
use shared::table::{self, AttrType, IndexProjection, TableSpec};

use crate::Writer;

/// An index's projection as a line: `ALL`, or `INCLUDE a,b,c` (sorted).
pub fn projection_line(projection_type: &str, attributes: &[&str]) -> String {
    if projection_type == "INCLUDE" {
        let mut attributes = attributes.to_vec();
        attributes.sort_unstable();
        format!("INCLUDE {}", attributes.join(","))
    } else {
        projection_type.to_string()
    }
}

/// How long `ensure_table` waits for a new table to become ACTIVE.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableCheck {
    Created,
    /// It existed already, with the same definition.
    AlreadyExists,
}

/// The table exists with another definition: what differs, one line each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("table {table} exists with a different definition:\n{}", .differences.join("\n"))]
pub struct TableMismatch {
    pub table: String,
    pub differences: Vec<String>,
}

/// A table definition as comparable lines ("key pk HASH", "index by_status: …").
/// `DescribeTable` output and `template.yaml` are reduced to the same form.
pub fn spec_lines(spec: &TableSpec) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    lines.insert(format!("key {} HASH", spec.partition_key));
    lines.insert(format!("key {} RANGE", spec.sort_key));
    for (name, ty) in &spec.attributes {
        lines.insert(format!("attribute {name} {}", ty.as_str()));
    }
    for ix in &spec.indexes {
        let projection = match ix.projection {
            IndexProjection::All => projection_line("ALL", &[]),
            IndexProjection::Include(attributes) => projection_line("INCLUDE", attributes),
        };
        lines.insert(format!(
            "index {}: {} HASH, {} RANGE, projection {projection}",
            ix.name, ix.partition_key, ix.sort_key
        ));
    }
    lines.insert(format!(
        "billing {}",
        if spec.on_demand {
            "PAY_PER_REQUEST"
        } else {
            "PROVISIONED"
        }
    ));
    lines
}

fn key_schema(hash: &str, range: &str) -> Result<Vec<KeySchemaElement>, StoreError> {
    [(hash, KeyType::Hash), (range, KeyType::Range)]
        .into_iter()
        .map(|(name, kt)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Dynamo(e.to_string()))
}

fn keys_of(schema: &[KeySchemaElement]) -> (String, String) {
    let find = |kt: KeyType| {
        schema
            .iter()
            .find(|k| *k.key_type() == kt)
            .map_or_else(|| "-".to_string(), |k| k.attribute_name().to_string())
    };
    (find(KeyType::Hash), find(KeyType::Range))
}

/// The lines of an existing table, in the form of `spec_lines`.
pub fn description_lines(d: &TableDescription) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    let (hash, range) = keys_of(d.key_schema());
    lines.insert(format!("key {hash} HASH"));
    lines.insert(format!("key {range} RANGE"));
    for a in d.attribute_definitions() {
        lines.insert(format!(
            "attribute {} {}",
            a.attribute_name(),
            a.attribute_type().as_str()
        ));
    }
    for ix in d.global_secondary_indexes() {
        let (hash, range) = keys_of(ix.key_schema());
        let projection = ix.projection().map_or_else(String::new, |p| {
            let attributes: Vec<&str> = p.non_key_attributes().iter().map(String::as_str).collect();
            projection_line(p.projection_type().map_or("", |t| t.as_str()), &attributes)
        });
        lines.insert(format!(
            "index {}: {hash} HASH, {range} RANGE, projection {projection}",
            ix.index_name().unwrap_or("-")
        ));
    }
    let billing = d
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map_or("PROVISIONED", |b| b.as_str());
    lines.insert(format!("billing {billing}"));
    lines
}

impl Writer {
    /// Creates the table as `table::spec()` defines it and waits until it is active.
    /// An existing table with the same definition is fine; one with another definition
    /// is an error that lists the differences.
    pub async fn ensure_table(&self) -> Result<TableCheck, EnsureTableError> {
        let spec = table::spec();
        let attributes = spec
            .attributes
            .iter()
            .map(|(name, ty)| {
                AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(match ty {
                        AttrType::S => ScalarAttributeType::S,
                        AttrType::N => ScalarAttributeType::N,
                    })
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Dynamo(e.to_string()))?;
        let indexes = spec
            .indexes
            .iter()
            .map(|ix| {
                GlobalSecondaryIndex::builder()
                    .index_name(ix.name)
                    .set_key_schema(Some(key_schema(ix.partition_key, ix.sort_key)?))
                    .projection(match ix.projection {
                        IndexProjection::All => {
                            Projection::builder().projection_type(ProjectionType::All).build()
                        }
                        IndexProjection::Include(attributes) => Projection::builder()
                            .projection_type(ProjectionType::Include)
                            .set_non_key_attributes(Some(attributes.iter().map(|a| a.to_string()).collect()))
                            .build(),
                    })
                    .build()
                    .map_err(|e| StoreError::Dynamo(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let created = self
            .client()
            .create_table()
            .table_name(self.table_name())
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(spec.partition_key, spec.sort_key)?))
            .set_global_secondary_indexes(Some(indexes))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        let outcome = match created {
            Ok(_) => TableCheck::Created,
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), CreateTableError::ResourceInUseException(_)) =>
            {
                TableCheck::AlreadyExists
            }
            Err(e) => return Err(classify(e).into()),
        };
        let waited = self
            .client()
            .wait_until_table_exists()
            .table_name(self.table_name())
            .wait(TABLE_ACTIVE_TIMEOUT)
            .await
            .map_err(|e| StoreError::Dynamo(shared::error::error_chain(&e)))?;
        if outcome == TableCheck::AlreadyExists {
            let actual = waited
                .as_result()
                .ok()
                .and_then(|out| out.table())
                .map(description_lines)
                .unwrap_or_default();
            let expected = spec_lines(&spec);
            let mut differences: Vec<String> = expected
                .difference(&actual)
                .map(|l| format!("  missing:    {l}"))
                .collect();
            differences.extend(actual.difference(&expected).map(|l| format!("  unexpected: {l}")));
            if !differences.is_empty() {
                return Err(EnsureTableError::Mismatch(TableMismatch {
                    table: self.table_name().to_string(),
                    differences,
                }));
            }
        }
        Ok(outcome)
    }
}

/// `ensure_table` fails either because the existing table differs or because DynamoDB did.
#[derive(Debug, thiserror::Error)]
pub enum EnsureTableError {
    #[error(transparent)]
    Mismatch(TableMismatch),
    #[error(transparent)]
    Store(#[from] StoreError),
}
