//! The stack's IAM, read where CloudFormation reads it (template.yaml through SAM's
//! transform), and the DynamoDB requests a test made, recorded by a relay in front of
//! DynamoDB Local: [`SyncPolicy::allows`] says whether the managed policy the stack ships
//! for `convo-admin sync` and import (`SyncPolicy`) lets each request through, as IAM
//! decides it (action, resource, `dynamodb:LeadingKeys`).

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::faults::{Fault, FaultyEndpoint};
use crate::workspace_root;

/// `template.yaml` after SAM's transform (aws-sam-translator from `.tools/venv`, offline,
/// through tools/template.py) with the given parameter values, as JSON.
pub fn translated_template(values: &[&str]) -> Value {
    let python = workspace_root().join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make tools` (make test does)",
        python.display()
    );
    let out = Command::new(&python)
        .current_dir(workspace_root())
        .args(["tools/template.py", "translate", "template.yaml"])
        .args(values)
        .output()
        .expect("run tools/template.py");
    assert!(
        out.status.success(),
        "tools/template.py translate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the translated template is JSON")
}

/// `*`-globs as IAM's `StringLike` reads them (no `?` in this template).
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.starts_with(head)
                && glob_matches_suffix(tail, &value[head.len()..])
        }
    }
}

fn glob_matches_suffix(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => value.ends_with(pattern),
        Some((head, tail)) => (0..=value.len())
            .filter(|&i| value.is_char_boundary(i) && value[i..].starts_with(head))
            .any(|i| glob_matches_suffix(tail, &value[i + head.len()..])),
    }
}

/// One IAM action on one resource of the table, with the partition keys it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `dynamodb:PutItem`, ... (a transaction's items are checked as their own actions, as
    /// IAM does: there is no `dynamodb:TransactWriteItems`).
    pub action: String,
    pub table: String,
    pub index: Option<String>,
    /// The partition key values (`dynamodb:LeadingKeys`).
    pub leading_keys: Vec<String>,
}

/// What one DynamoDB request (`operation`, JSON `body`) asks IAM for.
pub fn accesses(operation: &str, body: &[u8]) -> Vec<Access> {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let pk = |key: &Value| key["pk"]["S"].as_str().map(str::to_string);
    let one = |action: &str, table: &Value, index: Option<String>, keys: Vec<String>| Access {
        action: format!("dynamodb:{action}"),
        table: table.as_str().unwrap_or_default().to_string(),
        index,
        leading_keys: keys,
    };
    match operation {
        "GetItem" | "UpdateItem" | "DeleteItem" => {
            vec![one(
                operation,
                &body["TableName"],
                None,
                pk(&body["Key"]).into_iter().collect(),
            )]
        }
        "PutItem" => vec![one(
            operation,
            &body["TableName"],
            None,
            pk(&body["Item"]).into_iter().collect(),
        )],
        "Query" => {
            let index = body["IndexName"].as_str().map(str::to_string);
            vec![one(
                "Query",
                &body["TableName"],
                index,
                query_partition_key(&body).into_iter().collect(),
            )]
        }
        "BatchGetItem" | "BatchWriteItem" => {
            let Some(tables) = body["RequestItems"].as_object() else {
                return Vec::new();
            };
            tables
                .iter()
                .map(|(table, requests)| {
                    let keys = if operation == "BatchGetItem" {
                        requests["Keys"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(pk)
                            .collect()
                    } else {
                        requests
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|r| {
                                pk(&r["PutRequest"]["Item"]).or_else(|| pk(&r["DeleteRequest"]["Key"]))
                            })
                            .collect()
                    };
                    one(operation, &Value::String(table.clone()), None, keys)
                })
                .collect()
        }
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, inner) = item.as_object()?.iter().next()?;
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    other => other,
                };
                let key = pk(&inner["Key"]).or_else(|| pk(&inner["Item"]));
                Some(one(action, &inner["TableName"], None, key.into_iter().collect()))
            })
            .collect(),
        other => vec![one(other, &body["TableName"], None, Vec::new())],
    }
}

/// The value a Query's key condition binds the partition key `pk` to.
fn query_partition_key(body: &Value) -> Option<String> {
    let condition = body["KeyConditionExpression"].as_str()?;
    condition
        .split(" AND ")
        .chain(condition.split(" and "))
        .find_map(|clause| {
            let (name, value) = clause.split_once('=')?;
            let name = name.trim().trim_start_matches('(');
            let name = body["ExpressionAttributeNames"][name].as_str().unwrap_or(name);
            (name == "pk").then(|| {
                body["ExpressionAttributeValues"][value.trim().trim_end_matches(')')]["S"].as_str()
            })?
        })
        .map(str::to_string)
}

/// The DynamoDB statements of the stack's `SyncPolicy` (Access=public, the defaults).
#[derive(Debug)]
pub struct SyncPolicy {
    statements: Vec<Statement>,
}

#[derive(Debug)]
struct Statement {
    actions: BTreeSet<String>,
    /// The table itself (`Fn::GetAtt [ConversationsTable, Arn]`); indexes are not granted.
    table_only: bool,
    leading_keys: Option<Vec<String>>,
}

impl SyncPolicy {
    /// Read once per test binary.
    pub fn of_template() -> &'static SyncPolicy {
        static POLICY: OnceLock<SyncPolicy> = OnceLock::new();
        POLICY.get_or_init(|| SyncPolicy::of(&translated_template(&["Access=public"])))
    }

    pub fn of(template: &Value) -> SyncPolicy {
        let policy = &template["Resources"]["SyncPolicy"];
        assert_eq!(
            policy["Type"], "AWS::IAM::ManagedPolicy",
            "template.yaml's SyncPolicy"
        );
        let statements = policy["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .expect("SyncPolicy's statements")
            .iter()
            .filter_map(|s| {
                assert_eq!(s["Effect"], "Allow", "{s}");
                let actions: BTreeSet<String> = one_or_many(&s["Action"])
                    .iter()
                    .filter_map(|a| {
                        a.as_str()
                            .filter(|a| a.starts_with("dynamodb:"))
                            .map(str::to_string)
                    })
                    .collect();
                if actions.is_empty() {
                    return None;
                }
                let table = serde_json::json!({ "Fn::GetAtt": ["ConversationsTable", "Arn"] });
                let resources = one_or_many(&s["Resource"]);
                let table_only = resources == [table];
                assert!(
                    table_only,
                    "SyncPolicy's DynamoDB resources are the table alone: {s}"
                );
                let condition = s["Condition"].as_object().map(|c| {
                    assert_eq!(c.len(), 1, "{s}");
                    one_or_many(&c["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
                        .iter()
                        .map(|p| p.as_str().expect("a pattern").to_string())
                        .collect()
                });
                Some(Statement {
                    actions,
                    table_only,
                    leading_keys: condition,
                })
            })
            .collect();
        SyncPolicy { statements }
    }

    /// Whether some statement lets `access` through.
    pub fn allows(&self, access: &Access) -> bool {
        self.statements.iter().any(|s| {
            s.actions.contains(&access.action)
                && (access.index.is_none() || !s.table_only)
                && s.leading_keys.as_ref().is_none_or(|patterns| {
                    // Every request DynamoDB authorises carries its partition keys; none read
                    // here means the relay could not read them: refused, not waved through.
                    !access.leading_keys.is_empty()
                        && access
                            .leading_keys
                            .iter()
                            .all(|key| patterns.iter().any(|p| glob_matches(p, key)))
                })
        })
    }
}

fn one_or_many(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// A relay in front of DynamoDB Local that records what every request asks IAM for.
pub struct RecordingRelay {
    pub url: String,
    accesses: Arc<Mutex<Vec<Access>>>,
    _endpoint: FaultyEndpoint,
}

impl RecordingRelay {
    pub fn start() -> RecordingRelay {
        let recorded_all = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&recorded_all);
        let endpoint =
            FaultyEndpoint::start_per_operation(&crate::dynamodb().endpoint, move |_, operation, body| {
                let mut recorded = recorded.lock().unwrap_or_else(|e| e.into_inner());
                recorded.extend(accesses(operation, body));
                Fault::Pass
            });
        RecordingRelay {
            url: endpoint.url.clone(),
            accesses: recorded_all,
            _endpoint: endpoint,
        }
    }

    /// What the requests on `table` asked for so far.
    pub fn accesses_on(&self, table: &str) -> Vec<Access> {
        let recorded = self.accesses.lock().unwrap_or_else(|e| e.into_inner());
        recorded.iter().filter(|a| a.table == table).cloned().collect()
    }

    /// Panics, listing them, if any request on `table` needed what `SyncPolicy` does not
    /// grant; returns the actions used.
    pub fn assert_sync_policy_allows(&self, table: &str) -> BTreeSet<String> {
        let accesses = self.accesses_on(table);
        assert!(
            !accesses.is_empty(),
            "no request on {table} went through the relay"
        );
        let policy = SyncPolicy::of_template();
        let denied: Vec<&Access> = accesses.iter().filter(|a| !policy.allows(a)).collect();
        assert!(
            denied.is_empty(),
            "template.yaml's SyncPolicy denies {} of {} requests on {table}:\n{denied:#?}",
            denied.len(),
            accesses.len()
        );
        accesses.into_iter().map(|a| a.action).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn access(action: &str, keys: &[&str]) -> Access {
        Access {
            action: format!("dynamodb:{action}"),
            table: "t".into(),
            index: None,
            leading_keys: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn a_transactions_items_are_checked_as_their_own_actions() {
        let body = json!({ "TransactItems": [
            { "Put": { "TableName": "t", "Item": { "pk": { "S": "C#1" }, "sk": { "S": "META" } } } },
            { "Update": { "TableName": "t", "Key": { "pk": { "S": "COUNTER" }, "sk": { "S": "message" } } } },
            { "ConditionCheck": { "TableName": "t", "Key": { "pk": { "S": "PHONE#57" }, "sk": { "S": "PHONE" } } } },
        ]});
        assert_eq!(
            accesses("TransactWriteItems", body.to_string().as_bytes()),
            vec![
                access("PutItem", &["C#1"]),
                access("UpdateItem", &["COUNTER"]),
                access("ConditionCheckItem", &["PHONE#57"]),
            ]
        );
    }

    #[test]
    fn a_querys_partition_key_is_read_through_its_names_and_values() {
        let body = json!({
            "TableName": "t",
            "KeyConditionExpression": "#p = :p AND begins_with(sk, :m)",
            "ExpressionAttributeNames": { "#p": "pk" },
            "ExpressionAttributeValues": { ":p": { "S": "C#7" }, ":m": { "S": "M#" } },
        });
        assert_eq!(
            accesses("Query", body.to_string().as_bytes()),
            vec![access("Query", &["C#7"])]
        );
        let on_index = json!({ "TableName": "t", "IndexName": "by_status", "KeyConditionExpression": "status = :s",
            "ExpressionAttributeValues": { ":s": { "S": "active" } } });
        let got = accesses("Query", on_index.to_string().as_bytes());
        assert_eq!(got[0].index.as_deref(), Some("by_status"));
        assert!(got[0].leading_keys.is_empty());
    }

    #[test]
    fn a_policy_allows_only_its_actions_on_its_keys_and_not_an_index() {
        let template = json!({ "Resources": { "SyncPolicy": { "Type": "AWS::IAM::ManagedPolicy", "Properties": {
        "PolicyDocument": { "Statement": [
            { "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
              "Resource": [{ "Fn::GetAtt": ["ConversationsTable", "Arn"] }],
              "Condition": { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["C#*", "SYNC"] } } },
            { "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*" },
        ]}}}}});
        let policy = SyncPolicy::of(&template);
        assert!(policy.allows(&access("GetItem", &["C#1"])));
        assert!(policy.allows(&access("PutItem", &["C#1", "SYNC"])));
        assert!(!policy.allows(&access("PutItem", &["C#1", "PHONE#1"])));
        assert!(!policy.allows(&access("DeleteItem", &["C#1"])));
        assert!(!policy.allows(&access("GetItem", &["SYNCX"])));
        assert!(
            !policy.allows(&access("GetItem", &[])),
            "keys the relay could not read"
        );
        let mut on_index = access("GetItem", &["C#1"]);
        on_index.index = Some("by_status".into());
        assert!(!policy.allows(&on_index));
    }
}
