//! The MariaDB harness itself (tests/harness/mariadb.rs): a private server with the legacy
//! schema per database, the read-only account the sync is given, and dumps of a database.

use integration_tests::mariadb::{ADMIN_USER, READER_USER, mariadb};
use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "current_thread")]
async fn a_database_has_the_legacy_schema_in_the_legacy_servers_zone() {
    let db = mariadb().database("schema").await;
    assert!(db.name.starts_with("legacy_schema_"), "{}", db.name);
    let mut conn = db.admin().await;
    let tables: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1",
            (&db.name,),
        )
        .await
        .unwrap();
    assert_eq!(tables, ["conversations", "messages"]);
    let charset: Option<String> = conn
        .exec_first(
            "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (&db.name,),
        )
        .await
        .unwrap();
    assert_eq!(charset.as_deref(), Some("utf8mb4"));
    // The session keeps the server's zone, as the legacy PHP application's did.
    let zone: Option<String> = conn.query_first("SELECT @@session.time_zone").await.unwrap();
    assert_eq!(zone.as_deref(), Some("-05:00"));
    let user: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(user, Some(format!("{ADMIN_USER}@127.0.0.1")));
    // A message of a conversation, 4-byte UTF-8 included, with the schema's defaults.
    conn.query_drop(
        "INSERT INTO conversations (id, phone_number, contact_name) VALUES (1, '573001112233', 'María 🎉');
         INSERT INTO messages (conversation_id, sender_type, message_text) VALUES (1, 'user', 'Hola 👋🏽');",
    )
    .await
    .unwrap();
    let row: Option<(String, String, String)> = conn
        .query_first(
            "SELECT c.status, c.contact_name, m.message_text FROM conversations c \
             JOIN messages m ON m.conversation_id = c.id",
        )
        .await
        .unwrap();
    assert_eq!(row, Some(("active".into(), "María 🎉".into(), "Hola 👋🏽".into())));
    conn.disconnect().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn the_reader_may_select_but_not_write() {
    let db = mariadb().database("reader").await;
    let mut admin = db.admin().await;
    admin
        .query_drop("INSERT INTO conversations (phone_number) VALUES ('573000000001')")
        .await
        .unwrap();
    admin.disconnect().await.unwrap();

    let mut reader = db.reader().await;
    let user: Option<String> = reader.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(user, Some(format!("{READER_USER}@127.0.0.1")));
    let phones: Vec<String> = reader
        .query("SELECT phone_number FROM conversations")
        .await
        .unwrap();
    assert_eq!(phones, ["573000000001"]);
    for write in [
        "INSERT INTO conversations (phone_number) VALUES ('573000000002')",
        "UPDATE conversations SET contact_name = 'x'",
        "DELETE FROM conversations",
    ] {
        match reader.query_drop(write).await {
            // ER_TABLEACCESS_DENIED_ERROR
            Err(mysql_async::Error::Server(e)) if e.code == 1142 => {
                assert!(e.message.contains("command denied"), "{write}: {e:?}");
            }
            other => panic!("{write}: expected a permission error, got {other:?}"),
        }
    }
    // Nor may it make a database of its own.
    match reader.query_drop("CREATE DATABASE legacy_reader_own").await {
        // ER_DBACCESS_DENIED_ERROR
        Err(mysql_async::Error::Server(e)) if e.code == 1044 => {}
        other => panic!("CREATE DATABASE: expected a permission error, got {other:?}"),
    }
    let count: Option<u64> = reader
        .query_first("SELECT COUNT(*) FROM conversations")
        .await
        .unwrap();
    assert_eq!(count, Some(1));
    reader.disconnect().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn databases_are_independent_and_dump_on_their_own() {
    let server = mariadb();
    let (a, b) = (server.database("dump").await, server.database("dump").await);
    assert_ne!(a.name, b.name);
    assert_ne!(a.admin_url, b.admin_url);
    let mut conn = a.admin().await;
    conn.query_drop(
        "INSERT INTO conversations (id, phone_number) VALUES (7, '573009998877');
         INSERT INTO messages (id, conversation_id, sender_type, message_text, created_at)
           VALUES (70, 7, 'bot', 'only in a', '2024-01-15 09:30:00');",
    )
    .await
    .unwrap();
    conn.disconnect().await.unwrap();
    let count = |url: String| async move {
        let mut conn = mysql_async::Conn::from_url(url).await.unwrap();
        let n: Option<u64> = conn
            .query_first("SELECT (SELECT COUNT(*) FROM conversations) + (SELECT COUNT(*) FROM messages)")
            .await
            .unwrap();
        conn.disconnect().await.unwrap();
        n
    };
    assert_eq!(count(a.reader_url.clone()).await, Some(2));
    assert_eq!(count(b.reader_url.clone()).await, Some(0));

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (path_a, path_b) = (
        dir.join(format!("{}.sql", a.name)),
        dir.join(format!("{}.sql", b.name)),
    );
    a.dump(&path_a, &[]);
    b.dump(&path_b, &["--skip-tz-utc"]);
    let (dump_a, dump_b) = (
        std::fs::read_to_string(&path_a).unwrap(),
        std::fs::read_to_string(&path_b).unwrap(),
    );
    for dump in [&dump_a, &dump_b] {
        assert!(dump.contains("CREATE TABLE `conversations`"), "{dump}");
        assert!(dump.contains("CREATE TABLE `messages`"), "{dump}");
        assert!(!dump.contains("Dump completed on"), "--skip-dump-date: {dump}");
    }
    // a's rows (its time in UTC: the default dump converts from the server's -05:00)...
    assert!(
        dump_a.contains("INSERT INTO `messages` VALUES\n(70,7,NULL,'bot','only in a',NULL,'text',NULL,NULL,'2024-01-15 14:30:00')"),
        "{dump_a}"
    );
    // ...are a's alone; b's dump took its extra argument.
    assert!(!dump_b.contains("INSERT INTO"), "{dump_b}");
    assert!(!dump_b.contains("SET TIME_ZONE='+00:00'"), "{dump_b}");
    assert!(dump_a.contains("SET TIME_ZONE='+00:00'"), "{dump_a}");
    std::fs::remove_file(path_a).unwrap();
    std::fs::remove_file(path_b).unwrap();
}
