//! The pool of Redis connections, which finds a broken connection by the commands that failed on
//! it rather than by a PING before each use.
//!
//! bb8 can test a connection at every checkout, and that PING was about 1.5 commands of every
//! task's 4 to 5 under load: a third of the Redis work of a cluster. A connection is broken
//! when a command on it could not be delivered or answered (the socket closed, reset or timed
//! out); the pool is told so when the connection comes back, drops it, and the next checkout
//! connects afresh. Redis answering with an error (a wrong type, a missing group) leaves the
//! connection as good as it was.

use bb8_redis::RedisConnectionManager;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

pub type RedisPool = bb8::Pool<Manager>;

/// bb8-redis's manager, with connections that remember whether a command failed on them.
#[derive(Debug, Clone)]
pub struct Manager(RedisConnectionManager);

impl Manager {
    pub fn new(url: &str) -> Result<Self, RedisError> {
        Ok(Self(RedisConnectionManager::new(url)?))
    }
}

/// A pooled connection: Redis's multiplexed connection and whether it broke while lent out.
pub struct Connection {
    inner: MultiplexedConnection,
    broken: bool,
}

impl Connection {
    fn noted<T>(&mut self, answer: Result<T, RedisError>) -> Result<T, RedisError> {
        if let Err(e) = &answer {
            self.broken |= breaks(e);
        }
        answer
    }
}

/// Whether an error means the connection itself is gone, rather than Redis refusing a command.
fn breaks(e: &RedisError) -> bool {
    e.is_unrecoverable_error() || e.is_connection_dropped() || e.is_timeout() || e.is_io_error()
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let answer = self.inner.req_packed_command(cmd).await;
            self.noted(answer)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let answer = self
                .inner
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.noted(answer)
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = Connection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Connection, RedisError> {
        Ok(Connection {
            inner: self.0.connect().await?,
            broken: false,
        })
    }

    async fn is_valid(&self, conn: &mut Connection) -> Result<(), RedisError> {
        self.0.is_valid(&mut conn.inner).await
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_by_redis_does_not_break_the_connection_and_a_closed_socket_does() {
        let refused = RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "WRONGTYPE",
        ));
        assert!(!breaks(&refused));
        let closed = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(breaks(&closed));
        let silent = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(breaks(&silent));
    }
}
