//! Conversations `convo-admin sync` set aside instead of stopping: one whose table copy
//! holds what MySQL does not explain (`reconcile::Refusal` in convo-admin, or a phone number
//! another conversation claims) gets a record under `SYNC / QUARANTINE#<id:016>`, beside
//! the sync's checkpoint. Later rounds skip it; `convo-admin sync --status` lists the
//! records; `convo-admin sync --rebuild` rebuilds the conversation from MySQL and deletes its
//! record. The mapping to items is here, not in `shared::item`: only writers use it.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use jiff::Timestamp;

use shared::error::{StoreError, classify};
use shared::item::{self, Item, n, s};
use shared::table;

use crate::Writer;

/// A conversation set aside by the sync, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    pub conversation_id: u64,
    /// The legacy row's phone number, in full (shown masked: `model::mask_phone`).
    pub phone_number: String,
    /// Why, in a word (`table::QUARANTINE_CODE` lists them).
    pub code: String,
    /// Why, as the refusal says it (phone numbers masked).
    pub reason: String,
    /// When the sync set it aside.
    pub since: Timestamp,
    /// The legacy row's `updated_at` then.
    pub legacy_updated_at: Timestamp,
    /// MySQL's newest message then (contract order), when the sync had read it.
    pub newest_message_id: Option<u64>,
}

/// The record's item.
pub fn quarantine_to_item(q: &Quarantine) -> Item {
    let mut it = item::key(table::SYNC_PK.into(), table::quarantine_sk(q.conversation_id));
    it.extend([
        (table::CONVERSATION_ID.to_string(), n(q.conversation_id)),
        (table::PHONE_NUMBER.to_string(), s(q.phone_number.as_str())),
        (table::QUARANTINE_CODE.to_string(), s(q.code.as_str())),
        (table::QUARANTINE_REASON.to_string(), s(q.reason.as_str())),
        (table::QUARANTINED_AT.to_string(), s(q.since.to_string())),
        (table::UPDATED_AT.to_string(), s(q.legacy_updated_at.to_string())),
    ]);
    if let Some(id) = q.newest_message_id {
        it.insert(table::LAST_MESSAGE_ID.to_string(), n(id));
    }
    it
}

/// A record read back.
pub fn quarantine_from_item(it: &Item) -> Result<Quarantine, StoreError> {
    let bad = |name: &str, reason: &str| StoreError::BadItem {
        what: "sync quarantine",
        reason: format!("{name}: {reason}"),
    };
    let text = |name: &str| -> Result<String, StoreError> {
        match it.get(name) {
            Some(AttributeValue::S(v)) => Ok(v.clone()),
            Some(_) => Err(bad(name, "not a string")),
            None => Err(bad(name, "missing")),
        }
    };
    let number = |name: &str| -> Result<Option<u64>, StoreError> {
        match it.get(name) {
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| bad(name, "not an id")),
            Some(_) => Err(bad(name, "not a number")),
            None => Ok(None),
        }
    };
    let time = |name: &str| -> Result<Timestamp, StoreError> {
        text(name)?.parse().map_err(|_| bad(name, "not an RFC 3339 time"))
    };
    Ok(Quarantine {
        conversation_id: number(table::CONVERSATION_ID)?
            .ok_or_else(|| bad(table::CONVERSATION_ID, "missing"))?,
        phone_number: text(table::PHONE_NUMBER)?,
        code: text(table::QUARANTINE_CODE)?,
        reason: text(table::QUARANTINE_REASON)?,
        since: time(table::QUARANTINED_AT)?,
        legacy_updated_at: time(table::UPDATED_AT)?,
        newest_message_id: number(table::LAST_MESSAGE_ID)?,
    })
}

impl Writer {
    /// Records a conversation as set aside (replacing an earlier record of it).
    pub async fn put_quarantine(&self, q: &Quarantine) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(quarantine_to_item(q)))
            .send()
            .await
            .map(drop)
            .map_err(classify)
    }

    /// Every conversation set aside, by id. One strongly consistent Query of the `SYNC`
    /// partition (a page per MB): a record deleted by a rebuild is gone from the next read.
    pub async fn quarantined(&self) -> Result<Vec<Quarantine>, StoreError> {
        let query = self
            .client()
            .query()
            .table_name(self.table_name())
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#sk", table::SK)
            .expression_attribute_values(":pk", s(table::SYNC_PK))
            .expression_attribute_values(":prefix", s(table::QUARANTINE_SK_PREFIX))
            .consistent_read(true);
        let mut records = Vec::new();
        crate::pages::each_item(query, |it| {
            records.push(quarantine_from_item(&it)?);
            Ok(true)
        })
        .await?;
        Ok(records)
    }

    /// Deletes a conversation's record; what it held, if there was one.
    pub async fn clear_quarantine(&self, conversation_id: u64) -> Result<Option<Quarantine>, StoreError> {
        let out = self
            .client()
            .delete_item()
            .table_name(self.table_name())
            .set_key(Some(item::key(
                table::SYNC_PK.into(),
                table::quarantine_sk(conversation_id),
            )))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(classify)?;
        out.attributes.map(|it| quarantine_from_item(&it)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarantine_record_round_trips_through_its_item() {
        let q = Quarantine {
            conversation_id: 7,
            phone_number: "573001234567".into(),
            code: "message_not_in_source".into(),
            reason: "conversation 7: the table holds message 9001, which the source does not have".into(),
            since: "2026-12-04T17:39:00Z".parse().unwrap(),
            legacy_updated_at: "2026-12-04T17:38:59Z".parse().unwrap(),
            newest_message_id: Some(48_117),
        };
        let it = quarantine_to_item(&q);
        assert_eq!(it["pk"], s("SYNC"));
        assert_eq!(it["sk"], s("QUARANTINE#0000000000000007"));
        assert_eq!(it["quarantined_at"], s("2026-12-04T17:39:00Z"));
        assert_eq!(quarantine_from_item(&it).unwrap(), q);
        let without = Quarantine {
            newest_message_id: None,
            ..q
        };
        let it = quarantine_to_item(&without);
        assert!(!it.contains_key("last_message_id"));
        assert_eq!(quarantine_from_item(&it).unwrap(), without);

        let mut broken = it.clone();
        broken.remove("reason");
        let e = quarantine_from_item(&broken).unwrap_err().to_string();
        assert!(e.contains("reason: missing"), "{e}");
    }
}
