//! The legacy MySQL database, read live (SELECT only) for `convo-admin sync`. Rows come
//! back as the legacy row types and go through the ONE mapping of `legacy` every import
//! uses. The session's time zone is UTC, so TIMESTAMP columns arrive in UTC whatever the
//! server's zone; queries use the text protocol, so values arrive as MySQL writes them
//! (a FLOAT `0.92` as "0.92", as a dump has it, not as the f32 nearest to it).

use std::time::Duration;

use anyhow::anyhow;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Pool, PoolConstraints, PoolOpts, Row, Value};
use shared::model::{Conversation, Message};

use crate::legacy::{self, ConversationRow, MessageRow, Scalar};

pub mod connection;

pub use connection::Settings;
use connection::{Transport, Trust};

/// One query may take this long (a slow moment of the server, a lost connection).
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The pool: at least one connection, at most eight. `PoolConstraints::new` is a `const fn`, so
/// this is checked when the crate is compiled (a `None` fails the build, not a run).
const POOL_CONSTRAINTS: PoolConstraints = match PoolConstraints::new(1, 8) {
    Some(constraints) => constraints,
    None => panic!("pool constraints need min <= max and max > 0"),
};

/// A new message id seen in the legacy table, with what orders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewId {
    pub id: u64,
    pub conversation_id: u64,
    pub created_at: Timestamp,
}

impl NewId {
    pub fn chronological_key(&self) -> (Timestamp, u64) {
        (self.created_at, self.id)
    }
}

#[derive(Clone)]
pub struct LegacyDb {
    pool: Pool,
    /// host:port/database, for messages (never the password).
    name: String,
    /// The host as the URL names it, and what its certificate is checked against: for
    /// messages that say what to fix when TLS fails.
    host: String,
    trust: Trust,
}

impl LegacyDb {
    /// A pool over `mysql://user:password@host:port/database`, no files: TLS as
    /// [`connection`] decides it (required unless the server is on this host).
    pub fn new(url: &str) -> anyhow::Result<LegacyDb> {
        LegacyDb::with_settings(&Settings {
            url: url.to_string(),
            ..Settings::default()
        })
    }

    /// A pool over the settings' URL, with the password and CA files if given (read now:
    /// an unreadable file fails here, before any connection). Connects lazily: the first
    /// query says whether the server is there. A URL that turns TLS off for a server across
    /// a network prints one warning line on stderr.
    pub fn with_settings(settings: &Settings) -> anyhow::Result<LegacyDb> {
        let connection = connection::connection(settings)?;
        if connection.transport == (Transport::Plain { warn: true }) {
            eprintln!("{}", connection::plaintext_warning(&connection.name));
        }
        if !connection.unchecked.is_empty() {
            eprintln!(
                "{}",
                connection::unchecked_warning(&connection.name, &connection.unchecked)
            );
        }
        let opts = OptsBuilder::from_opts(connection.opts)
            // TIMESTAMPs in UTC: MySQL converts them by the session's zone. `setup`, not
            // `init`: the pool resets a connection when it comes back (COM_RESET_CONNECTION,
            // which restores the server's zone), and only `setup` runs again after that.
            .setup(vec!["SET time_zone = '+00:00'"])
            .pool_opts(PoolOpts::default().with_constraints(POOL_CONSTRAINTS));
        Ok(LegacyDb {
            pool: Pool::new(opts),
            name: connection.name,
            host: connection.host,
            trust: connection.trust,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn disconnect(self) {
        let _ = self.pool.disconnect().await;
    }

    async fn rows(&self, sql: String) -> anyhow::Result<Vec<Vec<Option<Scalar>>>> {
        let work = async {
            let mut conn = self.pool.get_conn().await?;
            conn.query::<Row, _>(sql.as_str()).await
        };
        let rows = tokio::time::timeout(QUERY_TIMEOUT, work)
            .await
            .map_err(|_| anyhow!("MySQL {} did not answer within {QUERY_TIMEOUT:?}", self.name))?
            .map_err(|e| {
                let fix = connection::explain(&e, &self.host, &self.trust);
                let e = anyhow::Error::new(e);
                match fix {
                    Some(fix) => e.context(fix),
                    None => e,
                }
                .context(format!("reading MySQL {}", self.name))
            })?;
        rows.into_iter()
            .map(|row| row.unwrap().into_iter().map(scalar).collect())
            .collect()
    }

    /// The server's clock (UTC), which stamps `updated_at` and `created_at`.
    pub async fn now(&self) -> anyhow::Result<Timestamp> {
        let rows = self.rows("SELECT NOW()".into()).await?;
        let value = rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .flatten();
        legacy::timestamp("NOW()", &value, &TimeZone::UTC).map_err(|e| anyhow!("MySQL NOW(): {e}"))
    }

    /// Message ids above `after`, at most `limit`, by id.
    pub async fn message_ids_after(&self, after: u64, limit: usize) -> anyhow::Result<Vec<NewId>> {
        self.new_ids(format!(
            "SELECT id, conversation_id, created_at FROM messages WHERE id > {after} ORDER BY id LIMIT {limit}"
        ))
        .await
    }

    /// Message ids in `(above, through]`: those a late commit may have added since they were
    /// last read.
    pub async fn message_ids_between(&self, above: u64, through: u64) -> anyhow::Result<Vec<u64>> {
        let rows = self
            .rows(format!(
                "SELECT id FROM messages WHERE id > {above} AND id <= {through} ORDER BY id"
            ))
            .await?;
        rows.into_iter()
            .map(|r| number(r.into_iter().next().flatten()))
            .collect()
    }

    /// The ids, conversations and times of these messages.
    pub async fn message_ids(&self, ids: &[u64]) -> anyhow::Result<Vec<NewId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.new_ids(format!(
            "SELECT id, conversation_id, created_at FROM messages WHERE id IN ({}) ORDER BY id",
            list(ids)
        ))
        .await
    }

    async fn new_ids(&self, sql: String) -> anyhow::Result<Vec<NewId>> {
        self.rows(sql)
            .await?
            .into_iter()
            .map(|r| {
                let mut r = r.into_iter();
                let (id, conversation_id, created) = (r.next().flatten(), r.next().flatten(), r.next());
                Ok(NewId {
                    id: number(id)?,
                    conversation_id: number(conversation_id)?,
                    created_at: legacy::timestamp("created_at", &created.flatten(), &TimeZone::UTC)
                        .map_err(|e| anyhow!("messages: {e}"))?,
                })
            })
            .collect()
    }

    /// Conversations whose row changed at or after `since` (legacy `updated_at`).
    pub async fn conversations_changed_since(&self, since: Timestamp) -> anyhow::Result<Vec<Conversation>> {
        self.conversations_where(format!(
            "updated_at >= '{}' ORDER BY updated_at, id",
            sql_time(since)
        ))
        .await
    }

    pub async fn conversations(&self, ids: &[u64]) -> anyhow::Result<Vec<Conversation>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.conversations_where(format!("id IN ({}) ORDER BY id", list(ids)))
            .await
    }

    async fn conversations_where(&self, condition: String) -> anyhow::Result<Vec<Conversation>> {
        let rows = self
            .rows(format!(
                "SELECT {} FROM conversations WHERE {condition}",
                columns(ConversationRow::COLUMNS)
            ))
            .await?;
        rows.into_iter()
            .map(|values| {
                let row = ConversationRow::from_columns(ConversationRow::COLUMNS.iter().copied().zip(values));
                legacy::map_conversation(&row, &TimeZone::UTC)
                    .map_err(|e| anyhow!("conversations row {}: {e}", show_id(&row.id)))
            })
            .collect()
    }

    /// A conversation's messages from `key` on (`created_at`, then `id`), in that order.
    pub async fn messages_from(
        &self,
        conversation_id: u64,
        key: Option<(Timestamp, u64)>,
    ) -> anyhow::Result<Vec<Message>> {
        let from = match key {
            None => String::new(),
            Some((t, id)) => {
                let t = sql_time(t);
                format!(" AND (created_at > '{t}' OR (created_at = '{t}' AND id >= {id}))")
            }
        };
        let rows = self
            .rows(format!(
                "SELECT {} FROM messages WHERE conversation_id = {conversation_id}{from} ORDER BY created_at, id",
                columns(MessageRow::COLUMNS)
            ))
            .await?;
        rows.into_iter()
            .map(|values| {
                let row = MessageRow::from_columns(MessageRow::COLUMNS.iter().copied().zip(values));
                legacy::map_message(&row, &TimeZone::UTC)
                    .map_err(|e| anyhow!("messages row {}: {e}", show_id(&row.id)))
            })
            .collect()
    }

    /// How many messages a conversation has, and the id of its newest (contract order).
    pub async fn message_count_and_newest(&self, conversation_id: u64) -> anyhow::Result<(u64, Option<u64>)> {
        let rows = self
            .rows(format!(
                "SELECT (SELECT COUNT(*) FROM messages WHERE conversation_id = {conversation_id}), \
                 (SELECT id FROM messages WHERE conversation_id = {conversation_id} \
                  ORDER BY created_at DESC, id DESC LIMIT 1)"
            ))
            .await?;
        let mut row = rows.into_iter().next().unwrap_or_default().into_iter();
        let count = number(row.next().flatten())?;
        let newest = row.next().flatten().map(|v| number(Some(v))).transpose()?;
        Ok((count, newest))
    }
}

/// A value of the text protocol as the legacy row types hold it.
fn scalar(value: Value) -> anyhow::Result<Option<Scalar>> {
    Ok(match value {
        Value::NULL => None,
        Value::Bytes(b) => {
            Some(Scalar::Text(String::from_utf8(b).map_err(|_| {
                anyhow!("a column is not UTF-8 (the legacy tables are utf8mb4)")
            })?))
        }
        Value::Int(i) => Some(Scalar::Int(i)),
        Value::UInt(u) => Some(Scalar::Int(i64::try_from(u)?)),
        Value::Float(f) => Some(Scalar::Text(f.to_string())),
        Value::Double(f) => Some(Scalar::Float(f)),
        Value::Date(y, mo, d, h, mi, s, _) => Some(Scalar::Text(format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"
        ))),
        Value::Time(..) => return Err(anyhow!("unexpected TIME value")),
    })
}

fn number(value: Option<Scalar>) -> anyhow::Result<u64> {
    match value {
        Some(Scalar::Int(i)) => Ok(u64::try_from(i)?),
        Some(Scalar::Text(t)) => t.parse().map_err(|_| anyhow!("not a number: {t:?}")),
        other => Err(anyhow!("not a number: {other:?}")),
    }
}

fn show_id(id: &Option<Scalar>) -> String {
    match id {
        Some(Scalar::Text(t)) => t.clone(),
        Some(Scalar::Int(i)) => i.to_string(),
        _ => "?".into(),
    }
}

/// A time as a MySQL literal in the session's zone (UTC).
fn sql_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

fn columns(names: &[&str]) -> String {
    names
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}
