//! Crypto-shredding on both backends: a backup taken before an erasure holds ciphertext only
//! and cannot be read after it, even with the master key; an erasure killed right after it
//! destroyed the key completes when run again; the master key rotates by command.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::{Method, StatusCode};
use sqlx::{Executor, Row};
use uuid::Uuid;
use viewmark::domain::{AccountId, CreatorId, Platform};
use viewmark::store::{
    self, DataKey, KeyStore, MasterKey, MasterKeys, NewCreator, NewPost, NewSocialAccount, SealedColumn,
    StoreError,
};

use crate::on_both_backends;
use crate::support::tracked::{register, tracked, OURS};
use crate::support::{TestDb, TEST_ENCRYPTION_KEY};

const HANDLE: &str = "ada.lovelace.art";
const TOKEN: &str = "act.SECRET-ACCESS-777";
const POST_ID: &str = "7300000000000000042";
const URL: &str = "https://www.tiktok.com/@ada.lovelace.art/video/7300000000000000042";

/// A creator with a profile, a linked account holding platform tokens, and a post.
async fn creator_with_everything(store: &dyn store::Store, user: &str) -> CreatorId {
    let new = NewCreator {
        user_id: user.into(),
        display_name: Some("Ada Lovelace".into()),
        birth_year: Some(1990),
        policy_version: "2026-01".into(),
        channel: "api".into(),
        at: Utc::now(),
    };
    let creator = store.create_creator(&new).await.unwrap();
    let account = store
        .insert_social_account(&NewSocialAccount {
            creator_id: creator.id,
            platform: Platform::Tiktok,
            handle: HANDLE.into(),
            proof_code: Some("vm-proof".into()),
            oauth_token: Some(format!("{{\"access_token\":\"{TOKEN}\"}}").into_bytes()),
            at: Utc::now(),
        })
        .await
        .unwrap();
    store
        .insert_post(&NewPost {
            creator_id: creator.id,
            social_account_id: account.id,
            platform: Platform::Tiktok,
            platform_post_id: POST_ID.into(),
            url: URL.into(),
            content_id: None,
            at: Utc::now(),
        })
        .await
        .unwrap();
    creator.id
}

/// A sealed value where a logical backup (a dump) holds it: its column, its row, its bytes.
pub struct Sealed {
    pub column: SealedColumn,
    pub row: Uuid,
    pub bytes: Vec<u8>,
}

/// The key a sealed value of the creator's opens with: the account's for an account's handle
/// and tokens, the creator's for the rest.
pub async fn key_for(keys: &KeyStore, creator: CreatorId, value: &Sealed) -> Option<DataKey> {
    match value.column {
        SealedColumn::AccountHandle | SealedColumn::AccountToken => {
            keys.account_key(creator, AccountId::from_uuid(value.row)).await.unwrap()
        }
        _ => keys.data_key(creator).await.unwrap(),
    }
}

/// The creator's sealed values, as a logical backup (a dump) holds them.
pub async fn sealed_values(raw: &sqlx::AnyPool, creator: CreatorId) -> Vec<Sealed> {
    let mut values = Vec::new();
    for column in SealedColumn::ALL {
        let (table, owner, name) = (column.table(), column.owner_column(), column.column());
        let rows = sqlx::query(&format!("SELECT id, {name} AS v FROM {table} WHERE {owner} = $1"))
            .bind(creator.to_string())
            .fetch_all(raw)
            .await
            .unwrap();
        values.extend(rows.iter().filter_map(|r| {
            let bytes = r.get::<Option<Vec<u8>>, _>("v")?;
            Some(Sealed { column, row: r.get::<String, _>("id").parse().unwrap(), bytes })
        }));
    }
    values
}

async fn a_backup_taken_before_erasure_cannot_be_read_after_it(db: TestDb) {
    let store = db.store().await;
    let ada = creator_with_everything(store.as_ref(), "user-ada").await;
    let raw = db.raw().await;
    let needles: Vec<String> =
        ["user-ada", "Ada Lovelace", HANDLE, TOKEN, POST_ID, URL].iter().map(|s| s.to_string()).collect();

    // The backup: every sealed value (a dump) and, on SQLite, a copy of the database file.
    let dump = sealed_values(&raw, ada).await;
    assert_eq!(dump.len(), 5, "profile, handle, token, post id and URL are all sealed");
    let copy = tempfile::tempdir().unwrap();
    let copy_url = format!("sqlite://{}/backup.db", copy.path().display());
    let sqlite = db.url.starts_with("sqlite");
    if sqlite {
        raw.execute(format!("VACUUM INTO '{}/backup.db'", copy.path().display()).as_str()).await.unwrap();
        let bytes = std::fs::read(copy.path().join("backup.db")).unwrap();
        for needle in &needles {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} in the file");
        }
    }
    assert!(crate::support::files::scan(&db.url, &raw, &needles).await.is_empty(), "plaintext at rest");
    // Before the erasure the backup is readable with the key store: what makes it unreadable
    // afterwards is the erasure, not a broken backup.
    let keys = db.key_store().await;
    let mut opened = Vec::new();
    for v in &dump {
        let key = key_for(&keys, ada, v).await.expect("her keys");
        opened.push(String::from_utf8(key.open(v.column, v.row, &v.bytes).unwrap()).unwrap());
    }
    assert!(opened.iter().any(|v| v.contains("Ada Lovelace")) && opened.iter().any(|v| v == URL));
    if sqlite {
        let backup = store::connect(&copy_url, &db.options()).await.unwrap();
        assert_eq!(backup.creator(ada).await.unwrap().unwrap().display_name.as_deref(), Some("Ada Lovelace"));
        backup.close().await;
    }

    let receipt = store
        .erase_creator(ada, viewmark::domain::ErasureTrigger::Operator, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(receipt.row_counts["data_keys"], 1, "the key was destroyed");

    let keys = db.key_store().await;
    assert!(keys.data_key(ada).await.unwrap().is_none());
    // No key opens any sealed value of the backup: not hers (gone), not another creator's.
    let bob = creator_with_everything(store.as_ref(), "user-bob").await;
    let bobs_key = keys.data_key(bob).await.unwrap().unwrap();
    assert!(dump.iter().all(|v| bobs_key.open(v.column, v.row, &v.bytes).is_err()));
    if sqlite {
        let backup = store::connect(&copy_url, &db.options()).await.unwrap();
        assert!(matches!(backup.creator(ada).await, Err(StoreError::KeyUnavailable)));
        assert!(matches!(backup.social_accounts_for_creator(ada).await, Err(StoreError::KeyUnavailable)));
        assert!(matches!(backup.creator_by_user_id("user-ada").await, Err(StoreError::KeyUnavailable)));
        backup.close().await;
    }
    let key_store = db.raw_keystore().await;
    let leftovers = crate::support::files::scan(&db.keystore_url, &key_store, &[ada.to_string()]).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `viewmark` with a config file naming the test's databases and keys.
fn viewmark_with(db: &TestDb, dir: &std::path::Path, extra: &str) -> std::process::Command {
    let config = dir.join("viewmark.toml");
    let text = format!(
        "database_url = {:?}\nkeystore_url = {:?}\nwatermark_key = {:?}\n{extra}\n[log]\nlevel = \"warn\"\n",
        db.url,
        db.keystore_url,
        "07".repeat(32),
    );
    std::fs::write(&config, text).unwrap();
    let mut cmd = crate::support::cli::viewmark();
    cmd.env("VIEWMARK_CONFIG", &config);
    cmd
}

async fn an_erasure_killed_after_destroying_the_key_completes_on_retry(db: TestDb) {
    let url = db.url.clone();
    let t = tracked(db).await;
    let db = &t.app._db;
    let post = register(&t, &t.ada, OURS).await;
    t.poller.try_execute_task().await.unwrap();
    let (_, me) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    let ada: CreatorId = me["id"].as_str().unwrap().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let encryption = format!("encryption_key = {:?}", hex::encode(TEST_ENCRYPTION_KEY));

    // Hold the main database so the erasure stops right after destroying the key, then kill it.
    let raw = db.raw().await;
    let mut blocker = raw.acquire().await.unwrap();
    if url.starts_with("sqlite") {
        blocker.execute("BEGIN IMMEDIATE").await.unwrap();
    } else {
        blocker.execute("BEGIN").await.unwrap();
        let lock = format!("SELECT id FROM creators WHERE id = '{ada}' FOR UPDATE");
        blocker.execute(lock.as_str()).await.unwrap();
    }
    let mut erase =
        viewmark_with(db, dir.path(), &encryption).args(["erase", "--user", "user-ada"]).spawn().unwrap();
    let keys = db.key_store().await;
    let started = Instant::now();
    while keys.data_key(ada).await.unwrap().is_some() {
        assert!(started.elapsed() < Duration::from_secs(30), "the erasure never destroyed the key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    erase.kill().unwrap();
    erase.wait().unwrap();
    blocker.execute("ROLLBACK").await.unwrap();
    drop(blocker);

    // Half way: her rows remain, unreadable and no longer tracked.
    let rows = sqlx::query("SELECT COUNT(*) AS n FROM creators WHERE id = $1").bind(ada.to_string());
    assert_eq!(
        rows.fetch_one(&raw).await.unwrap().get::<i64, _>("n"),
        1,
        "the kill came before the transaction"
    );
    let (status, body) = t.app.call(Method::GET, "/v1/creators/me", Some(&t.ada), None).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    let snapshots = || async {
        let q = sqlx::query("SELECT COUNT(*) AS n FROM view_snapshots");
        q.fetch_one(&raw).await.unwrap().get::<i64, _>("n")
    };
    let before = snapshots().await;
    crate::support::tracked::next_slot().await;
    t.poller.try_execute_task().await.unwrap();
    assert_eq!(snapshots().await, before, "nothing polled for her");
    let status = sqlx::query("SELECT status FROM posts WHERE id = $1").bind(post["id"].as_str().unwrap());
    assert_eq!(status.fetch_one(&raw).await.unwrap().get::<String, _>("status"), "stopped");

    // Run again: it completes.
    let out =
        viewmark_with(db, dir.path(), &encryption).args(["erase", "--user", "user-ada"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["erased"], true, "{answer}");
    assert_eq!(answer["receipt"]["row_counts"]["data_keys"], 0, "{answer}");
    assert_eq!(answer["receipt"]["row_counts"]["creators"], 1, "{answer}");
    let needles = [ada.to_string(), "user-ada".into(), "ada_makes".into(), OURS.into()];
    let leftovers = crate::support::files::scan(&url, &raw, &needles).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

async fn the_master_key_rotates_by_command(db: TestDb) {
    let store = db.store().await;
    let ada = creator_with_everything(store.as_ref(), "user-ada").await;
    store.close().await;
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old.key"), dir.path().join("new.key"));
    std::fs::write(&old, hex::encode(TEST_ENCRYPTION_KEY)).unwrap();
    std::fs::write(&new, "5a".repeat(32)).unwrap();
    let rotate = |extra: String| {
        let out = viewmark_with(&db, dir.path(), &extra).arg("rotate-master-key").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let both = format!("encryption_key_file = {new:?}\nencryption_previous_key_files = [{old:?}]");
    let first = rotate(both.clone());
    assert_eq!(first["resealed"], 3, "her key, her account's and the index key: {first}");
    assert_eq!(rotate(both)["resealed"], 0, "a second run has nothing left to do");

    let with = |current: [u8; 32]| {
        let mut options = db.options();
        options.master_keys = MasterKeys { current: MasterKey::new(&current), previous: vec![] };
        options
    };
    let rotated = store::connect(&db.url, &with([0x5a; 32])).await.unwrap();
    let creator = rotated.creator(ada).await.unwrap().unwrap();
    assert_eq!(creator.display_name.as_deref(), Some("Ada Lovelace"));
    let account = rotated.social_accounts_for_creator(ada).await.unwrap().remove(0);
    assert_eq!(account.handle, HANDLE);
    rotated.close().await;
    // The old key alone no longer opens anything: refused at start.
    let refused = store::connect(&db.url, &with(TEST_ENCRYPTION_KEY)).await.err().unwrap();
    assert!(matches!(refused, StoreError::Keys(_)), "{refused}");
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file of a database as it lies on disk: the SQLite file with its WAL and shared
/// memory, or every file of the PostgreSQL database's directory after a checkpoint.
async fn files_on_disk(url: &str, raw: &sqlx::AnyPool) -> Vec<(String, Vec<u8>)> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap();
        return ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                let name = format!("{path}{suffix}");
                std::fs::read(&name).ok().map(|bytes| (name, bytes))
            })
            .collect();
    }
    raw.execute("CHECKPOINT").await.unwrap();
    let dir: String = sqlx::query(
        "SELECT 'base/' || CAST(oid AS TEXT) AS d FROM pg_database WHERE datname = current_database()",
    )
    .fetch_one(raw)
    .await
    .unwrap()
    .get("d");
    let names = sqlx::query("SELECT pg_ls_dir($1) AS f").bind(&dir).fetch_all(raw).await.unwrap();
    let mut files = Vec::new();
    for name in names.iter().map(|r| format!("{dir}/{}", r.get::<String, _>("f"))) {
        let read = sqlx::query("SELECT pg_read_binary_file($1, 0, 268435456, true) AS b").bind(&name);
        if let Some(bytes) = read.fetch_one(raw).await.unwrap().get::<Option<Vec<u8>>, _>("b") {
            files.push((name, bytes));
        }
    }
    files
}

/// A forensic reader of the key store's files (and, on SQLite, of the main database's)
/// finds no byte of an erased creator's sealed data key or sealed fields: a copy of the data
/// directory taken after the erasure, read with the master key, gives nothing back.
async fn an_erasure_leaves_no_sealed_bytes_in_the_files(db: TestDb) {
    let store = db.store().await;
    let ada = creator_with_everything(store.as_ref(), "user-ada").await;
    let (raw, raw_keys) = (db.raw().await, db.raw_keystore().await);
    let sealed_key: Vec<u8> = sqlx::query("SELECT sealed FROM data_keys WHERE owner = $1")
        .bind(ada.to_string())
        .fetch_one(&raw_keys)
        .await
        .unwrap()
        .get("sealed");
    let fields = sealed_values(&raw, ada).await;
    // The scan sees what is there: before the erasure the sealed key is on disk.
    let before = files_on_disk(&db.keystore_url, &raw_keys).await;
    assert!(before.iter().any(|(_, bytes)| holds(bytes, &sealed_key)), "the scan cannot see the key");

    store.erase_creator(ada, viewmark::domain::ErasureTrigger::Operator, Utc::now()).await.unwrap().unwrap();

    for (name, bytes) in files_on_disk(&db.keystore_url, &raw_keys).await {
        assert!(!holds(&bytes, &sealed_key), "the destroyed data key's bytes remain in {name}");
    }
    if db.url.starts_with("sqlite") {
        for (name, bytes) in files_on_disk(&db.url, &raw).await {
            for field in &fields {
                assert!(!holds(&bytes, &field.bytes), "an erased sealed field remains in {name}");
            }
        }
    }
}

/// Writes `bytes` into a sealed column of a row, as a database writer could.
async fn overwrite(raw: &sqlx::AnyPool, column: SealedColumn, row: impl Into<Uuid>, bytes: &[u8]) {
    let (table, name) = (column.table(), column.column());
    sqlx::query(&format!("UPDATE {table} SET {name} = $1 WHERE id = $2"))
        .bind(bytes.to_vec())
        .bind(row.into().to_string())
        .execute(raw)
        .await
        .unwrap();
}

/// A database writer who moves a sealed value onto another row or column of the same creator
/// gets an unreadable value, not a misread one: every value is bound to its column and row.
async fn a_sealed_value_moved_to_another_row_or_column_does_not_open(db: TestDb) {
    let store = db.store().await;
    let raw = db.raw().await;
    let ada = creator_with_everything(store.as_ref(), "user-ada").await;
    let account = store.social_accounts_for_creator(ada).await.unwrap().remove(0);
    let second = store
        .insert_post(&NewPost {
            creator_id: ada,
            social_account_id: account.id,
            platform: Platform::Tiktok,
            platform_post_id: "7300000000000000099".into(),
            url: "https://www.tiktok.com/@ada.lovelace.art/video/7300000000000000099".into(),
            content_id: None,
            at: Utc::now(),
        })
        .await
        .unwrap();
    let values = sealed_values(&raw, ada).await;
    let value = |column: SealedColumn, row: Uuid| {
        values.iter().find(|v| v.column == column && v.row == row).map(|v| v.bytes.clone()).unwrap()
    };
    let first = store
        .posts_for_creator(ada, None, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.id != second.id)
        .unwrap();

    // The first post's URL copied onto the second post.
    overwrite(&raw, SealedColumn::PostUrl, second.id, &value(SealedColumn::PostUrl, first.id.as_uuid()))
        .await;
    assert!(matches!(store.post(second.id).await, Err(StoreError::KeyUnavailable)));
    overwrite(&raw, SealedColumn::PostUrl, second.id, &value(SealedColumn::PostUrl, second.id.as_uuid()))
        .await;
    assert_eq!(store.post(second.id).await.unwrap().unwrap().url, second.url, "restored");
    // The URL copied into the platform post id of the same row.
    overwrite(
        &raw,
        SealedColumn::PostPlatformId,
        first.id,
        &value(SealedColumn::PostUrl, first.id.as_uuid()),
    )
    .await;
    assert!(matches!(store.post(first.id).await, Err(StoreError::KeyUnavailable)));
    // The handle copied into the token column of the same account.
    let handle = value(SealedColumn::AccountHandle, account.id.as_uuid());
    overwrite(&raw, SealedColumn::AccountToken, account.id, &handle).await;
    assert!(matches!(store.oauth_token(account.id).await, Err(StoreError::KeyUnavailable)));
}

/// Values sealed in the layout bound to their owner only are rewritten in the current one
/// when the store migrates; until then, reads refuse them.
async fn values_of_the_earlier_layout_are_resealed_at_migration(db: TestDb) {
    let store = db.store().await;
    let raw = db.raw().await;
    let ada = creator_with_everything(store.as_ref(), "user-ada").await;
    // An old database: every value in layout 1, under the creator's key.
    let keys = db.key_store().await;
    let key = keys.data_key(ada).await.unwrap().unwrap();
    for value in sealed_values(&raw, ada).await {
        let plain =
            key_for(&keys, ada, &value).await.unwrap().open(value.column, value.row, &value.bytes).unwrap();
        overwrite(&raw, value.column, value.row, &key.seal_layout_1(&plain).unwrap()).await;
    }
    let unmigrated =
        store::connect(&db.url, &store::ConnectOptions { migrate: false, ..db.options() }).await.unwrap();
    assert!(matches!(unmigrated.creator(ada).await, Err(StoreError::KeyUnavailable)), "layout 1 is refused");
    unmigrated.close().await;

    // This database was resealed when it was created: a value of layout 1 restored into it
    // later is not rewritten, and stays unreadable.
    let restarted = db.store().await;
    assert!(matches!(restarted.creator(ada).await, Err(StoreError::KeyUnavailable)), "not resealed twice");
    restarted.close().await;

    // A database from before the reseal has no record of it: the next start reseals.
    sqlx::query("DELETE FROM store_upgrades").execute(&raw).await.unwrap();
    let migrated = db.store().await;
    let resealed = sealed_values(&raw, ada).await;
    assert!(resealed.iter().all(|v| v.bytes[0] == 2), "every value resealed");
    let account_values = resealed.iter().filter(|v| v.column == SealedColumn::AccountHandle);
    for value in account_values {
        assert!(
            key.open(value.column, value.row, &value.bytes).is_err(),
            "the handle left the creator's key"
        );
    }
    assert_eq!(migrated.creator(ada).await.unwrap().unwrap().display_name.as_deref(), Some("Ada Lovelace"));
    let posts = migrated.posts_for_creator(ada, None, 10).await.unwrap();
    assert_eq!((posts[0].platform_post_id.as_str(), posts[0].url.as_str()), (POST_ID, URL));
    let account = migrated.social_accounts_for_creator(ada).await.unwrap().remove(0);
    assert_eq!(account.handle, HANDLE);
    let token = migrated.oauth_token(account.id).await.unwrap().unwrap();
    assert!(String::from_utf8(token).unwrap().contains(TOKEN));
}

on_both_backends!(
    a_sealed_value_moved_to_another_row_or_column_does_not_open,
    values_of_the_earlier_layout_are_resealed_at_migration,
    an_erasure_leaves_no_sealed_bytes_in_the_files,
    a_backup_taken_before_erasure_cannot_be_read_after_it,
    an_erasure_killed_after_destroying_the_key_completes_on_retry,
    the_master_key_rotates_by_command,
);
