//! Driving `tests/warehouse/harness.py`, which runs the SQL of a folder on fakesnow (a Snowflake
//! emulator on DuckDB) over a local lake folder. What the harness executes as written, what it
//! rewrites and what it only checks for structure is listed at the top of harness.py.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use super::sql::repo_path;

/// The files a deployment runs, in order: tables, file format, stage, tasks. (04 and 05 are the
/// statements the tasks run; the docs' setup runs them once by hand, which the tests do when
/// they need to.)
pub(super) const DEPLOY: [&str; 4] = [
    "01_tables.sql",
    "02_file_format.sql",
    "03_stage.sql",
    "06_task.sql",
];

pub(super) struct Emulator {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    /// The harness' stderr goes to a file, shown when a command fails.
    log: tempfile::NamedTempFile,
}

/// The Python that has fakesnow, from `scripts/with-fakesnow.sh`.
fn python() -> String {
    std::env::var("TEST_FAKESNOW_PYTHON").unwrap_or_else(|_| {
        panic!(
            "TEST_FAKESNOW_PYTHON is not set. Run the tests with `scripts/test.sh` (or put \
             scripts/with-fakesnow.sh in front of cargo test), which installs the Snowflake \
             emulator into a private virtual environment, or point it at a Python where \
             `pip install fakesnow==0.12.1 snowflake-connector-python==4.8.1 duckdb==2.0.1` ran"
        )
    })
}

impl Emulator {
    /// A new emulated account reading the SQL of `sql` and the stage folder `stage`.
    pub(super) fn start(sql: &Path, stage: &Path) -> Emulator {
        let log = tempfile::NamedTempFile::new().unwrap();
        let python = python();
        let mut child = Command::new(&python)
            .arg(repo_path("tests/warehouse/harness.py"))
            .arg("--sql")
            .arg(sql)
            .arg("--lake")
            .arg(stage)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {python} (TEST_FAKESNOW_PYTHON): {e}; run under scripts/with-fakesnow.sh")
            });
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut emulator = Emulator {
            child,
            input,
            output,
            log,
        };
        let ready = emulator.read();
        assert_eq!(
            ready["ok"], true,
            "the warehouse harness did not start: {}",
            ready["error"]
        );
        emulator
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        if line.is_empty() {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            panic!("the warehouse harness ended:\n{log}");
        }
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("harness answer ({e}): {line}"))
    }

    /// Sends one command; the answer, or the harness' error.
    pub(super) fn try_send(&mut self, command: Value) -> Result<Value, String> {
        writeln!(self.input, "{command}").unwrap();
        self.input.flush().unwrap();
        let answer = self.read();
        if answer["ok"] == true {
            Ok(answer)
        } else {
            Err(answer["error"].as_str().unwrap_or("?").to_owned())
        }
    }

    #[track_caller]
    pub(super) fn send(&mut self, command: Value) -> Value {
        let shown = command.to_string();
        self.try_send(command)
            .unwrap_or_else(|e| panic!("{shown} failed in the emulator:\n{e}"))
    }

    /// A new, empty account over `stage`, reading the SQL of `sql`.
    pub(super) fn reset(&mut self, sql: &Path, stage: &Path) {
        self.send(json!({"cmd": "reset", "sql": sql, "lake": stage}));
    }

    /// Reads the SQL of another folder from now on, in the same account.
    pub(super) fn use_sql(&mut self, sql: &Path) {
        self.send(json!({"cmd": "use_sql", "sql": sql}));
    }

    pub(super) fn run_file(&mut self, name: &str) -> Result<Value, String> {
        self.try_send(json!({"cmd": "run_file", "name": name}))
    }

    /// 01, 02, 03 and 06: what a deployment runs.
    pub(super) fn deploy(&mut self) {
        for file in DEPLOY {
            self.run_file(file)
                .unwrap_or_else(|e| panic!("{file} failed in the emulator:\n{e}"));
        }
    }

    /// One run of the task graph: load, then merge (when the stream has rows), then prune.
    /// `Err` when a task failed, with what ran before.
    pub(super) fn run_tasks(&mut self, scan_time: Option<&str>) -> Result<Value, String> {
        let answer = self.send(json!({"cmd": "run_tasks", "scan_time": scan_time}));
        match answer.get("failed") {
            Some(task) => Err(format!("task {task} failed: {}", answer["error"])),
            None => Ok(answer),
        }
    }

    /// The names of the tasks that ran in the last `run_tasks` answer, skipped ones excluded.
    pub(super) fn ran(answer: &Value) -> Vec<String> {
        answer["ran"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t.get("skipped").is_none())
            .map(|t| t["task"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every row of `table`: its column names and typed values (`{"ntz": …}` for a
    /// TIMESTAMP_NTZ, `{"ltz": …}` for an instant, strings, null).
    pub(super) fn table(&mut self, table: &str) -> Table {
        let mut answer = self.send(json!({"cmd": "table", "name": table}));
        Table {
            columns: serde_json::from_value(answer["columns"].take()).unwrap(),
            rows: serde_json::from_value(answer["rows"].take()).unwrap(),
        }
    }

    /// One statement through the same paths as the statements of a file.
    pub(super) fn statement(&mut self, sql: &str) -> Result<Value, String> {
        self.try_send(json!({"cmd": "statement", "sql": sql}))
    }

    /// A file's statements; `force` adds FORCE = TRUE to its COPY, `scan_time` is the load's start.
    pub(super) fn run_file_with(
        &mut self,
        name: &str,
        force: bool,
        scan_time: Option<&str>,
    ) -> Result<Value, String> {
        self.try_send(
            json!({"cmd": "run_file", "name": name, "force": force, "scan_time": scan_time}),
        )
    }

    pub(super) fn query(&mut self, sql: &str) -> Table {
        let answer = self.send(json!({"cmd": "query", "sql": sql}));
        Table {
            columns: serde_json::from_value(answer["columns"].clone()).unwrap(),
            rows: serde_json::from_value(answer["rows"].clone()).unwrap(),
        }
    }

    /// The results of the queries of 07_checks.sql the emulator runs.
    pub(super) fn checks(&mut self) -> Vec<Value> {
        let answer = self.send(json!({"cmd": "checks"}));
        answer["results"].as_array().unwrap().clone()
    }

    pub(super) fn tasks(&mut self) -> Value {
        self.send(json!({"cmd": "tasks"}))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) struct Table {
    pub(super) columns: Vec<String>,
    pub(super) rows: Vec<Vec<Value>>,
}

impl Table {
    pub(super) fn column(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.columns))
    }
}

/// The warehouse SQL of the repository.
pub(super) fn sql_dir() -> PathBuf {
    repo_path(super::SQL_DIR)
}

/// A copy of the warehouse SQL in `into`, each file's text passed through `edit`.
pub(super) fn sql_copy(into: &Path, edit: impl Fn(&str) -> String) {
    std::fs::create_dir_all(into).unwrap();
    for entry in std::fs::read_dir(sql_dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(into.join(path.file_name().unwrap()), edit(&text)).unwrap();
    }
}
