//! Registered clients as the back channel (token, introspection, revocation) reads them: a
//! client found in the database is kept in memory for [`FRESH_MS`], so a relying party's or
//! a resource server's steady stream of requests needs no query to authenticate it. That is
//! the staleness bound: `keystep client add` or `client remove` in another process reaches a
//! running server within 10 seconds. An unknown id is not remembered (each is looked up, so
//! made-up ids cannot fill memory), and the cache holds at most [`MAX_CLIENTS`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use keystep_core::clients::{self, Client};
use keystep_core::clock::Clock;
use keystep_core::db::DbConn;

/// How long a loaded client is used without looking again (milliseconds).
pub const FRESH_MS: i64 = 10_000;

/// More registered clients than this are looked up as before once the cache is full.
pub const MAX_CLIENTS: usize = 4096;

#[derive(Debug)]
struct Cached {
    client: Arc<Client>,
    loaded_at_ms: i64,
}

/// The cache; one per server, in [`crate::Oidc`].
#[derive(Debug, Default)]
pub struct ClientCache {
    clients: RwLock<HashMap<String, Cached>>,
}

impl ClientCache {
    /// The client `id`: from memory while fresh, else from `conn` (and kept).
    pub fn find(
        &self,
        conn: &mut DbConn,
        clock: &dyn Clock,
        id: &str,
    ) -> keystep_core::Result<Option<Arc<Client>>> {
        let now = clock.now_millis();
        if let Ok(clients) = self.clients.read() {
            if let Some(cached) = clients.get(id) {
                if (0..FRESH_MS).contains(&(now - cached.loaded_at_ms)) {
                    return Ok(Some(Arc::clone(&cached.client)));
                }
            }
        }
        let found = clients::find_client(conn, id)?.map(Arc::new);
        if let Ok(mut clients) = self.clients.write() {
            match &found {
                Some(client) => {
                    if clients.len() >= MAX_CLIENTS {
                        clients.retain(|_, c| (0..FRESH_MS).contains(&(now - c.loaded_at_ms)));
                    }
                    if clients.len() < MAX_CLIENTS || clients.contains_key(id) {
                        let cached = Cached {
                            client: Arc::clone(client),
                            loaded_at_ms: now,
                        };
                        clients.insert(id.to_owned(), cached);
                    }
                }
                None => {
                    clients.remove(id);
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keystep_core::clients::NewClient;
    use keystep_core::testing;
    use std::time::Duration;

    fn register(t: &testing::TestServices, id: &str, redirect: &str) {
        let new = NewClient {
            id: id.to_owned(),
            redirect_uris: vec![redirect.to_owned()],
            ..NewClient::default()
        };
        t.write(|conn| clients::create_client(conn, t.clock.as_ref(), &new));
    }

    #[test]
    fn a_client_is_read_again_once_its_ten_seconds_are_over() {
        let t = testing::services();
        let cache = ClientCache::default();
        register(&t, "app", "https://rp.example/one");
        let mut conn = t.services.db.conn().unwrap();
        let find = |conn: &mut DbConn| cache.find(conn, t.clock.as_ref(), "app").unwrap();
        assert_eq!(
            find(&mut conn).unwrap().redirect_uris,
            ["https://rp.example/one"]
        );

        // Registered again elsewhere (the CLI): the cached one answers within the bound.
        t.write(|conn| clients::remove_client(conn, "app"));
        register(&t, "app", "https://rp.example/two");
        t.clock.advance(Duration::from_millis(9_999));
        assert_eq!(
            find(&mut conn).unwrap().redirect_uris,
            ["https://rp.example/one"]
        );
        t.clock.advance(Duration::from_millis(1));
        assert_eq!(
            find(&mut conn).unwrap().redirect_uris,
            ["https://rp.example/two"]
        );

        // Removed: gone once the bound is over, and not remembered as missing.
        t.write(|conn| clients::remove_client(conn, "app"));
        t.clock.advance(Duration::from_secs(10));
        assert!(find(&mut conn).is_none());
        register(&t, "app", "https://rp.example/three");
        assert_eq!(
            find(&mut conn).unwrap().redirect_uris,
            ["https://rp.example/three"]
        );
    }
}
