//! A fresh database per test on the server named by `TEST_DATABASE_URL`, with the
//! application's real table (a `json` column, no index on `created_at`).

use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// The application's DDL: the repository's one copy of it, `schema/postgres.sql` (the table;
/// its index is commented out there, so test tables have none, as in production).
pub const DDL: &str = include_str!("../../../schema/postgres.sql");

fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set. Run the suite with `scripts/test.sh`, which starts a \
             throwaway PostgreSQL (installing it from the machine's packages if needed), or point \
             it at a server you run: TEST_DATABASE_URL=postgres://user:pass@127.0.0.1:5432/postgres cargo test"
        )
    })
}

/// Connects and drives the connection in the background.
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL ({e}); is it running?"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

pub struct TestDb {
    /// URL of this test's own database.
    pub url: String,
}

impl TestDb {
    /// This database's name.
    pub fn name(&self) -> String {
        url::Url::parse(&self.url)
            .unwrap()
            .path()
            .trim_start_matches('/')
            .to_owned()
    }
}

impl TestDb {
    /// A new, empty database holding the table.
    pub async fn new() -> TestDb {
        TestDb::on(&server_url()).await
    }

    /// The same on another server, such as `TEST_TLS_DATABASE_URL`.
    pub async fn on(server: &str) -> TestDb {
        let server = server.to_owned();
        let admin = connect(&server).await;
        let name = format!("gf_test_{}", Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let url = with_database(&server, &name);
        let db = TestDb { url };
        db.client()
            .await
            .batch_execute(DDL)
            .await
            .expect("create table");
        db
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// Inserts `count` rows in one statement: `provider-{i % providers}`, created at
    /// `base + (i / same) seconds`, so that groups of `same` rows share one timestamp exactly.
    pub async fn insert_generated(&self, count: i64, providers: i64, same: i64, base: &str) {
        let sql = format!(
            "INSERT INTO provider_guardrail_followup (id, provider_id, provider_name, action, notes, platform_context, created_at)
             SELECT gen_random_uuid(), 'provider-' || (i % {providers}), 'Provider ' || (i % {providers}),
                    (ARRAY['pause','resume','escalate'])[1 + i % 3], 'note ' || i,
                    json_build_object('id', 'p' || i, 'label', 'Label ' || i, 'handle', NULL, 'platformType', 'instagram'),
                    timestamptz '{base}' + make_interval(secs => (i / {same}))
             FROM generate_series(0, {count} - 1) AS i"
        );
        self.client()
            .await
            .batch_execute(&sql)
            .await
            .expect("insert generated rows");
    }

    /// Every row's id in `(created_at, id)` order, optionally for one provider.
    pub async fn ordered_ids(&self, provider: Option<&str>) -> Vec<String> {
        let client = self.client().await;
        let rows = match provider {
            Some(p) => client
                .query(
                    "SELECT id::text FROM provider_guardrail_followup WHERE provider_id = $1 ORDER BY created_at, id",
                    &[&p],
                )
                .await,
            None => client.query("SELECT id::text FROM provider_guardrail_followup ORDER BY created_at, id", &[]).await,
        };
        rows.expect("select ids").iter().map(|r| r.get(0)).collect()
    }
}

/// The URL of database `name` on the server of `server`.
pub fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}
