//! A PostgreSQL schema of its own for each test, from `HIVE_TEST_DATABASE_URL`, dropped when
//! the test ends (pass or fail). Without that variable a test says that it skipped; with
//! `HIVE_TEST_REQUIRE_SERVICES=1` (as CI sets) a missing or unreachable server fails it instead.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

pub struct Schema {
    /// The server's URL, with the schema as every connection's `search_path`.
    pub url: String,
    base: String,
    name: String,
}

pub fn required() -> bool {
    std::env::var("HIVE_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A fresh empty schema, or `None` (after saying why) when no PostgreSQL is configured.
pub async fn schema(test: &str) -> Option<Schema> {
    let Ok(base) = std::env::var("HIVE_TEST_DATABASE_URL") else {
        assert!(
            !required(),
            "HIVE_TEST_REQUIRE_SERVICES=1 but HIVE_TEST_DATABASE_URL is not set"
        );
        eprintln!("SKIPPED {test}: set HIVE_TEST_DATABASE_URL to run it against PostgreSQL");
        return None;
    };
    let mut conn = match AsyncPgConnection::establish(&base).await {
        Ok(conn) => conn,
        Err(e) if !required() => {
            eprintln!("SKIPPED {test}: PostgreSQL at {base} is unreachable: {e}");
            return None;
        }
        Err(e) => panic!("PostgreSQL at {base} is unreachable: {e}"),
    };
    let name = format!("hive_test_{}", uuid::Uuid::now_v7().simple());
    conn.batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .expect("create a test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(Schema {
        url: format!("{base}{separator}options=-c%20search_path%3D{name}"),
        base,
        name,
    })
}

impl Drop for Schema {
    /// On a thread of its own with its own runtime: drop may run while a test's runtime unwinds.
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let mut conn = AsyncPgConnection::establish(&base).await?;
                conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}
