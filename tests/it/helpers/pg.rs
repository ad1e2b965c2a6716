//! A fresh database per test on the server named by `TEST_DATABASE_URL`, with the
//! application's real table (a `json` column, no index on `created_at`), dropped when the test
//! ends (passed or failed).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

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
    /// The server it is on, as given (a URL of another database there).
    server: String,
    /// The helpers' own connection to it, opened with the database and kept for the test.
    own: Client,
}

impl Drop for TestDb {
    /// Drops the database, also when the test panicked, so that a run of the suite leaves no
    /// databases behind on a server it did not start. The test's end waits for it (a few
    /// milliseconds); failing is reported, never a panic (this runs while unwinding too).
    fn drop(&mut self) {
        let name = self.name();
        let (done, dropped) = mpsc::channel();
        // WITH (FORCE), PostgreSQL 13+: the sessions still on it (this one's own, a killed
        // exporter's) are ended first.
        admin_statement(
            &self.server,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            Box::new(move |result| {
                let _ = done.send(result);
            }),
        );
        match dropped.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: cannot drop test database {name}: {e}"),
            Err(_) => eprintln!("warning: test database {name} was not dropped within 30 s"),
        }
    }
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
        let name = format!("gf_test_{}", Uuid::new_v4().simple());
        let (done, created) = tokio::sync::oneshot::channel();
        admin_statement(
            &server,
            format!("CREATE DATABASE {name}"),
            Box::new(move |result| {
                let _ = done.send(result);
            }),
        );
        created
            .await
            .expect("the thread that creates test databases answers")
            .unwrap_or_else(|e| panic!("create test database: {e}"));
        let url = with_database(&server, &name);
        let own = connect(&url).await;
        own.batch_execute(DDL).await.expect("create table");
        TestDb { url, server, own }
    }

    /// A new connection to this test's database.
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
        self.own
            .batch_execute(&sql)
            .await
            .expect("insert generated rows");
    }

    /// Every row's id in `(created_at, id)` order, optionally for one provider.
    pub async fn ordered_ids(&self, provider: Option<&str>) -> Vec<String> {
        let client = &self.own;
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

type Answer = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A statement for the server's maintenance connection, and whom to tell how it went.
struct AdminRequest {
    server: String,
    sql: String,
    answer: Answer,
}

/// Runs `sql` (`CREATE DATABASE`, `DROP DATABASE`) on `server` and calls `answer` with the
/// outcome. One thread with its own runtime keeps one connection per server open for every
/// test, so tests neither pay for connecting (password sign-in costs tens of milliseconds in a
/// debug build) nor depend on their own runtime still running (a `Drop` can use it).
fn admin_statement(server: &str, sql: String, answer: Answer) {
    static SERVICE: OnceLock<mpsc::Sender<AdminRequest>> = OnceLock::new();
    let service = SERVICE.get_or_init(|| {
        let (requests, inbox) = mpsc::channel::<AdminRequest>();
        std::thread::Builder::new()
            .name("test-databases".into())
            .spawn(move || serve_admin_requests(inbox))
            .expect("the thread that creates and drops test databases started");
        requests
    });
    let request = AdminRequest {
        server: server.to_owned(),
        sql,
        answer,
    };
    if let Err(mpsc::SendError(request)) = service.send(request) {
        (request.answer)(Err("the test databases' thread is gone".into()));
    }
}

/// The maintenance thread: serves [`AdminRequest`]s until the process ends.
fn serve_admin_requests(inbox: mpsc::Receiver<AdminRequest>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the test databases' thread");
    let mut clients: HashMap<String, Client> = HashMap::new();
    for request in inbox {
        let result = runtime.block_on(async {
            // A connection that broke since the last statement (the server restarted, say) is
            // opened again, once.
            let mut attempts = 0;
            loop {
                attempts += 1;
                if !clients.contains_key(&request.server) {
                    let (client, connection) = tokio_postgres::connect(&request.server, NoTls)
                        .await
                        .map_err(|e| {
                            format!("cannot connect to the test PostgreSQL ({e}); is it running?")
                        })?;
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    clients.insert(request.server.clone(), client);
                }
                let client = &clients[&request.server];
                match client.batch_execute(&request.sql).await {
                    Err(_) if client.is_closed() && attempts < 2 => {
                        clients.remove(&request.server);
                    }
                    other => return other.map_err(|e| format!("{}: {e}", request.sql)),
                }
            }
        });
        (request.answer)(result);
    }
}
