//! A Redis key prefix of its own for each test, on the server `HIVE_TEST_REDIS_URL` names; its
//! keys are deleted when the test ends. Without the variable a test says that it skipped; with
//! `HIVE_TEST_REQUIRE_SERVICES=1` (as CI sets) a missing or unreachable server fails it instead.

use crate::postgres_schema::required;

pub struct Namespace {
    pub url: String,
    pub prefix: String,
}

pub async fn namespace(test: &str) -> Option<Namespace> {
    let Ok(url) = std::env::var("HIVE_TEST_REDIS_URL") else {
        assert!(
            !required(),
            "HIVE_TEST_REQUIRE_SERVICES=1 but HIVE_TEST_REDIS_URL is not set"
        );
        eprintln!("SKIPPED {test}: set HIVE_TEST_REDIS_URL to run it against Redis");
        return None;
    };
    let reachable = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    if let Err(e) = reachable.await {
        assert!(!required(), "Redis at {url} is unreachable: {e}");
        eprintln!("SKIPPED {test}: Redis at {url} is unreachable: {e}");
        return None;
    }
    Some(Namespace {
        url,
        prefix: format!("hive-test-{}", uuid::Uuid::now_v7().simple()),
    })
}

impl Drop for Namespace {
    /// On a thread of its own with its own runtime: drop may run while a test's runtime unwinds.
    fn drop(&mut self) {
        let (url, pattern) = (self.url.clone(), format!("{}:*", self.prefix));
        let _ = std::thread::spawn(move || {
            let client = redis::Client::open(url.as_str())?;
            let mut conn = client.get_connection()?;
            let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(&mut conn)?;
            if !keys.is_empty() {
                redis::cmd("DEL").arg(&keys).query::<()>(&mut conn)?;
            }
            Ok::<_, redis::RedisError>(())
        })
        .join();
    }
}
