"""Runs the project's Snowflake SQL on fakesnow (a Snowflake emulator on DuckDB) over a local lake.

Usage: harness.py --sql DIR --lake DIR

DIR of --sql holds the `NN_*.sql` files (`warehouse/snowflake/`, or a test's mutated copy); the
--lake folder is what the stage's URL points at (the gateway's `guardrail_followups/` folder).
Commands come on stdin, one JSON object per line; each gets one JSON line on stdout:
`{"ok": true, ...}` or `{"ok": false, "error": "..."}`.

  {"cmd": "run_file", "name": "01_tables.sql", "force": false, "scan_time": null}
  {"cmd": "run_tasks", "scan_time": null}   run the resumed task graph once, root first
  {"cmd": "table", "name": "analytics.guardrail_followups"}   every row, typed
  {"cmd": "statement", "sql": "..."}        one statement, through the same paths as a file's
  {"cmd": "query", "sql": "..."}            a query's rows, typed
  {"cmd": "checks"}                         the executable queries of 07_checks.sql
  {"cmd": "tasks"}                          the task definitions and states
  {"cmd": "reset", "sql": DIR, "lake": DIR} a new, empty account (optionally other folders)
  {"cmd": "use_sql", "sql": DIR}            the same account, the SQL of another folder

What runs how:
- Executed as written through fakesnow: CREATE SCHEMA / TABLE / FILE FORMAT / STAGE, ALTER
  TABLE, the MERGE and the DELETE of 05_merge.sql (the stream is a table, see below), the
  queries of 07_checks.sql that read tables.
- COPY INTO is rewritten: its column list and SELECT items are executed as written, as
  `INSERT INTO <table> (<columns>) SELECT <items> FROM <the staged lines>`, with `$1` read from
  a VARIANT column and METADATA$FILENAME / METADATA$FILE_LAST_MODIFIED / METADATA$START_SCAN_TIME
  from columns the harness fills (the path under the stage, the file's mtime in UTC, the load's
  start). Emulated around it: listing the stage (the lake folder) and matching PATTERN against
  each path as a whole, the file format's STRIP_NULL_VALUES and strict UTF-8, the load metadata
  (a file already loaded with the same path and MD5 is skipped unless FORCE = TRUE),
  ON_ERROR = 'ABORT_STATEMENT' (one transaction: any bad line loads nothing and records nothing).
  One text rewrite: a `"Z"` literal in a datetime format becomes `Z`, because the emulator's
  format translation keeps the quotes of any quoted literal but "T".
- CREATE STREAM ... ON TABLE becomes a table of the same columns; a COPY into the table also
  appends its rows there, and a statement that reads the stream empties it once it succeeded
  (columns later added to the table are added to it too). SYSTEM$STREAM_HAS_DATA is "not empty".
- CREATE TASK and ALTER TASK are recorded, not executed: name, AFTER, WHEN, body and state, with
  Snowflake's rule that a graph changes only while its root task is suspended. run_tasks runs the
  bodies of resumed tasks in dependency order through the paths above.
- Structure only (not executed): CREATE PIPE, queries on a stage (`@...`), copy_history and
  task_history.
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import sys
import tempfile
import traceback
import warnings

warnings.filterwarnings("ignore")

try:
    import fakesnow
    import snowflake.connector
except ImportError as error:  # pragma: no cover - reported to the test
    print(
        json.dumps(
            {
                "ok": False,
                "error": f"fakesnow is not installed ({error}): run under scripts/with-fakesnow.sh, "
                "or pip install fakesnow==0.12.1 snowflake-connector-python==4.8.1 duckdb==2.0.1",
            }
        ),
        flush=True,
    )
    sys.exit(2)


class SqlError(Exception):
    pass


def split_statements(sql):
    """Splits a script at the `;` outside strings, quoted names, $$ blocks and comments."""
    statements, current, i = [], [], 0
    while i < len(sql):
        c, nxt = sql[i], sql[i + 1 : i + 2]
        if c == "-" and nxt == "-":
            while i < len(sql) and sql[i] != "\n":
                i += 1
            continue
        if c == "/" and nxt == "*":
            end = sql.find("*/", i + 2)
            i = len(sql) if end < 0 else end + 2
            current.append(" ")
            continue
        if c == "$" and nxt == "$":
            end = sql.find("$$", i + 2)
            end = len(sql) if end < 0 else end + 2
            current.append(sql[i:end])
            i = end
            continue
        if c in "'\"":
            j = i + 1
            while j < len(sql):
                if sql[j] == c:
                    if sql[j + 1 : j + 2] == c:
                        j += 2
                        continue
                    break
                j += 1
            current.append(sql[i : j + 1])
            i = j + 1
            continue
        if c == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def split_top_level(text):
    """Splits a list at the commas outside parentheses and quotes."""
    parts, depth, current, quote = [], 0, [], None
    for c in text:
        if quote:
            current.append(c)
            if c == quote:
                quote = None
            continue
        if c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(c)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def name_of(text):
    return text.strip().lower()


COPY = re.compile(
    r"^COPY INTO (?P<into>\S+)\s*\((?P<columns>[^)]*)\)\s*FROM \(\s*SELECT\s+(?P<items>.*?)\s+"
    r"FROM @(?P<stage>[\w.]+)\s*\)\s*(?P<options>.*)$",
    re.S,
)
STREAM = re.compile(r"^CREATE STREAM IF NOT EXISTS (\S+)\s+ON TABLE (\S+)\s+APPEND_ONLY = TRUE\b", re.S)
TASK = re.compile(r"^CREATE (OR REPLACE )?TASK (IF NOT EXISTS )?(\S+)\s+(.*?)\nAS\n(.*)$", re.S)
ALTER_TASK = re.compile(r"^ALTER TASK (IF EXISTS )?(\S+) (SUSPEND|RESUME)$")
STAGE = re.compile(r"^CREATE (OR REPLACE )?STAGE (IF NOT EXISTS )?(\S+)\s.*?\bFILE_FORMAT = \(FORMAT_NAME = '([^']+)'\)", re.S)
FILE_FORMAT = re.compile(r"^CREATE (OR REPLACE )?FILE FORMAT (IF NOT EXISTS )?(\S+)\s+(.*)$", re.S)
METADATA = {
    "METADATA$FILENAME": "metadata_filename",
    "METADATA$FILE_LAST_MODIFIED": "metadata_file_last_modified",
    "METADATA$START_SCAN_TIME": "metadata_start_scan_time",
}
STRUCTURE_ONLY = ("CREATE PIPE", "CREATE OR REPLACE PIPE")


def option(options, name):
    found = re.search(rf"\b{name}\s*=\s*('(?:[^']|'')*'|\S+)", options)
    if not found:
        return None
    value = found.group(1)
    return value[1:-1].replace("''", "'") if value.startswith("'") else value.rstrip(",")


def strip_nulls(value):
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value if v is not None]
    return value


def utc_naive(timestamp):
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).replace(tzinfo=None)


def typed(value):
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return {"ntz": value.strftime("%Y-%m-%dT%H:%M:%S.%f")}
        return {"ltz": value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    if isinstance(value, (dt.date, dt.time)):
        return {"other": value.isoformat()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return {"other": str(value)}


class Account:
    """One emulated Snowflake account: a fakesnow database plus the emulated objects."""

    generation = 0

    def __init__(self, sql_dir, lake):
        Account.generation += 1
        self.sql_dir, self.lake = sql_dir, lake
        self.conn = snowflake.connector.connect(database=f"gf_warehouse_{Account.generation}")
        self.cur = self.conn.cursor()
        self.streams = {}  # stream -> table
        self.stages = {}  # stage -> file format
        self.formats = {}  # file format -> options text
        self.load_metadata = {}  # table -> {(path, md5)}
        self.tasks = {}  # name -> {after, when, body, state}
        self.order = []  # task names in creation order

    # -- plain SQL -----------------------------------------------------------------------------

    def execute(self, sql, params=None):
        try:
            self.cur.execute(sql, params)
        except Exception as error:  # the connector's ProgrammingError and DuckDB's
            raise SqlError(f"{error}\n--- statement:\n{sql}") from None
        try:
            return self.cur.fetchall()
        except Exception:
            return []

    def columns(self, table):
        self.execute(f"SELECT * FROM {table} LIMIT 0")
        return [d.name.lower() for d in self.cur.description]

    def rows(self, sql):
        rows = self.execute(sql)
        names = [d.name.lower() for d in self.cur.description]
        return {"columns": names, "rows": [[typed(v) for v in row] for row in rows]}

    # -- statements ----------------------------------------------------------------------------

    def run_file(self, name, force=False, scan_time=None):
        path = os.path.join(self.sql_dir, name)
        with open(path, encoding="utf-8") as f:
            statements = split_statements(f.read())
        results = []
        for statement in statements:
            results.append(self.statement(statement, force=force, scan_time=scan_time))
        return results

    def statement(self, text, force=False, scan_time=None):
        upper = text.upper()
        if upper.startswith("COPY INTO"):
            return self.copy(text, force, scan_time)
        if upper.startswith("CREATE STREAM"):
            return self.create_stream(text)
        if re.match(r"CREATE (OR REPLACE )?TASK", upper):
            return self.create_task(text)
        if upper.startswith("ALTER TASK"):
            return self.alter_task(text)
        if upper.startswith(STRUCTURE_ONLY):
            return {"structure_only": text.split("\n", 1)[0]}
        if re.match(r"CREATE (OR REPLACE )?STAGE", upper):
            found = STAGE.match(text)
            if not found:
                raise SqlError(f"a stage needs FILE_FORMAT = (FORMAT_NAME = '...'):\n{text}")
            if name_of(found.group(4)) not in self.formats:
                raise SqlError(f"file format {found.group(4)} does not exist:\n{text}")
            if not found.group(1) and name_of(found.group(3)) in self.stages:
                return {"executed": "stage exists"}
            self.execute(text)
            self.stages[name_of(found.group(3))] = name_of(found.group(4))
            return {"executed": text.split("\n", 1)[0]}
        if re.match(r"CREATE (OR REPLACE )?FILE FORMAT", upper):
            found = FILE_FORMAT.match(text)
            if not found.group(1) and name_of(found.group(3)) in self.formats:
                return {"executed": "file format exists"}
            self.execute(text)
            self.formats[name_of(found.group(3))] = found.group(4)
            return {"executed": text.split("\n", 1)[0]}
        return self.dml(text)

    def dml(self, text):
        """A statement as written; one that reads a stream consumes it once it succeeded."""
        consumed = [s for s in self.streams if re.search(rf"\bFROM\s+{re.escape(s)}\b", text, re.I)]
        # No explicit transaction: fakesnow's MERGE also writes its own bookkeeping database,
        # which DuckDB refuses inside a transaction. A statement that fails changes nothing.
        result = self.execute(text)
        for stream in consumed:
            self.execute(f"DELETE FROM {stream}")
        return {"executed": text.split("\n", 1)[0], "result": [[typed(v) for v in r] for r in result]}

    def create_stream(self, text):
        found = STREAM.match(text)
        if not found:
            raise SqlError(f"expected CREATE STREAM IF NOT EXISTS <name> ON TABLE <table> APPEND_ONLY = TRUE:\n{text}")
        stream, table = name_of(found.group(1)), name_of(found.group(2))
        self.execute(f"CREATE TABLE IF NOT EXISTS {stream} AS SELECT * FROM {table} WHERE 1 = 0")
        self.streams[stream] = table
        return {"emulated": f"stream {stream} on {table}"}

    def follow_table_columns(self, stream):
        """A stream shows the columns its table has now."""
        table = self.streams[stream]
        have = set(self.columns(stream))
        self.execute(f"SELECT * FROM {table} LIMIT 0")
        for d in self.cur.description:
            if d.name.lower() not in have:
                kind = self.execute(
                    "SELECT data_type FROM information_schema.columns WHERE lower(table_schema) = %s "
                    "AND lower(table_name) = %s AND lower(column_name) = %s",
                    (*table.split("."), d.name.lower()),
                )[0][0]
                self.execute(f"ALTER TABLE {stream} ADD COLUMN {d.name.lower()} {kind}")

    # -- COPY ----------------------------------------------------------------------------------

    def copy(self, text, force, scan_time):
        found = COPY.match(text)
        if not found:
            raise SqlError(f"the harness reads COPY INTO <table> (<columns>) FROM (SELECT ... FROM @<stage>) <options>:\n{text}")
        into = name_of(found.group("into"))
        columns = [c.strip() for c in found.group("columns").split(",")]
        items = split_top_level(found.group("items"))
        options = found.group("options")
        stage = name_of(found.group("stage"))
        if stage not in self.stages:
            raise SqlError(f"stage {stage} does not exist")
        file_format = option(options, "FORMAT_NAME") or self.stages[stage]
        if name_of(file_format) not in self.formats:
            raise SqlError(f"file format {file_format} does not exist")
        format_options = self.formats[name_of(file_format)]
        if option(format_options, "TYPE") != "JSON":
            raise SqlError(f"the harness reads JSON file formats only: {format_options}")
        on_error = option(options, "ON_ERROR")
        if on_error != "ABORT_STATEMENT":
            raise SqlError(f"the harness emulates ON_ERROR = 'ABORT_STATEMENT' only, not {on_error}")
        force = force or (option(options, "FORCE") or "").upper() == "TRUE"
        pattern = option(options, "PATTERN")
        strip = (option(format_options, "STRIP_NULL_VALUES") or "FALSE").upper() == "TRUE"

        rewritten = []
        for item in items:
            item = re.sub(r"\$1(?![0-9])", "v", item)
            for metadata, column in METADATA.items():
                item = item.replace(metadata, column)
            if "METADATA$" in item:
                raise SqlError(f"the harness does not provide {item}")
            # The emulator's format translation keeps the quotes of a quoted "Z".
            item = item.replace('"Z"', "Z")
            rewritten.append(item)
        if len(rewritten) != len(columns):
            raise SqlError(f"the COPY selects {len(rewritten)} values for {len(columns)} columns")

        seen = self.load_metadata.setdefault(into, set())
        files = []
        for root, _, names in os.walk(self.lake):
            for name in names:
                full = os.path.join(root, name)
                relative = os.path.relpath(full, self.lake).replace(os.sep, "/")
                if pattern is not None and not re.fullmatch(pattern, relative):
                    continue
                with open(full, "rb") as f:
                    content = f.read()
                key = (relative, hashlib.md5(content).hexdigest())
                if key in seen and not force:
                    continue
                files.append((relative, key, content, utc_naive(os.stat(full).st_mtime)))
        files.sort()
        if not files:
            return {"loaded_files": [], "rows": 0}

        scan = dt.datetime.fromisoformat(scan_time) if scan_time else dt.datetime.now(dt.timezone.utc)
        lines = []
        for relative, _, content, modified in files:
            try:
                decoded = content.decode("utf-8")
            except UnicodeDecodeError as error:
                raise SqlError(f"{relative}: invalid UTF-8: {error}") from None
            for number, line in enumerate(decoded.split("\n"), 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as error:
                    raise SqlError(f"{relative} line {number}: not JSON: {error}") from None
                if strip:
                    value = strip_nulls(value)
                lines.append((json.dumps(value), relative, modified, scan))

        self.execute("CREATE OR REPLACE TEMPORARY TABLE harness_copy_lines (v VARIANT, metadata_filename VARCHAR, metadata_file_last_modified TIMESTAMP_NTZ(6), metadata_start_scan_time TIMESTAMP_LTZ(6))")
        # The staged lines reach the emulator's table in one bulk insert through DuckDB (its
        # VARIANT is JSON): plumbing of the emulation, not SQL under test, and fast enough for a
        # lake of a million lines. What the COPY's own SELECT does with them runs as written.
        with tempfile.NamedTemporaryFile("w", suffix=".ndjson", encoding="utf-8", delete=False) as spool:
            for line in lines:
                spool.write(json.dumps({
                    "v": line[0],
                    "f": line[1],
                    "m": line[2].strftime("%Y-%m-%d %H:%M:%S.%f"),
                    "s": line[3].isoformat(),
                }) + "\n")
        try:
            self.conn._duck_conn.execute(
                "INSERT INTO harness_copy_lines SELECT json(v), f, m::TIMESTAMP, s::TIMESTAMPTZ "
                "FROM read_json(?, columns = {v: 'VARCHAR', f: 'VARCHAR', m: 'VARCHAR', s: 'VARCHAR'}, "
                "format = 'newline_delimited')",
                [spool.name],
            )
        finally:
            os.unlink(spool.name)
        insert = f"INSERT INTO {into} ({', '.join(columns)})\nSELECT {', '.join(rewritten)}\nFROM harness_copy_lines"
        streams = [s for s, t in self.streams.items() if t == into]
        for stream in streams:
            self.follow_table_columns(stream)
        self.execute("BEGIN")
        try:
            self.execute(insert)
            for stream in streams:
                self.execute(f"INSERT INTO {stream} ({', '.join(columns)})\nSELECT {', '.join(rewritten)}\nFROM harness_copy_lines")
            self.execute("COMMIT")
        except Exception:
            self.execute("ROLLBACK")
            raise
        seen.update(key for _, key, _, _ in files)
        return {"loaded_files": [f[0] for f in files], "rows": len(lines)}

    # -- tasks ---------------------------------------------------------------------------------

    def root_of(self, name):
        while self.tasks[name]["after"]:
            name = self.tasks[name]["after"]
        return name

    def refuse_if_root_runs(self, name, text):
        if name in self.tasks:
            root = self.root_of(name)
            if self.tasks[root]["state"] == "started":
                raise SqlError(
                    f"Unable to update graph with root task {root} since that root task is not suspended:\n{text}"
                )

    def create_task(self, text):
        found = TASK.match(text)
        if not found:
            raise SqlError(f"expected CREATE [OR REPLACE] TASK <name> <params>\\nAS\\n<body>:\n{text}")
        replace, if_not_exists, name, params, body = found.groups()
        name = name_of(name)
        after = re.search(r"\bAFTER (\S+)", params)
        after = name_of(after.group(1)) if after else None
        if after is not None and after not in self.tasks:
            raise SqlError(f"task {name} runs after {after}, which does not exist")
        if name in self.tasks and if_not_exists:
            return {"emulated": f"task {name} exists, unchanged"}
        if name in self.tasks and not replace:
            raise SqlError(f"task {name} already exists")
        self.refuse_if_root_runs(name, text)
        if after is not None:
            self.refuse_if_root_runs(after, text)
        when = re.search(r"\bWHEN (.*)$", params, re.S)
        self.tasks[name] = {
            "after": after,
            "when": when.group(1).strip() if when else None,
            "schedule": option(params, "SCHEDULE"),
            "body": body.strip(),
            "state": "suspended",
        }
        if name not in self.order:
            self.order.append(name)
        # Replacing a task detaches the tasks that ran after it until they are created again.
        for other in self.tasks.values():
            if other["after"] == name and other is not self.tasks[name]:
                other["detached"] = True
        self.tasks[name].pop("detached", None)
        return {"emulated": f"task {name}"}

    def alter_task(self, text):
        found = ALTER_TASK.match(text)
        if not found:
            raise SqlError(f"expected ALTER TASK [IF EXISTS] <name> SUSPEND|RESUME:\n{text}")
        if_exists, name, action = found.groups()
        name = name_of(name)
        if name not in self.tasks:
            if if_exists:
                return {"emulated": f"no task {name}"}
            raise SqlError(f"task {name} does not exist")
        if self.tasks[name]["after"] is not None:
            self.refuse_if_root_runs(name, text)
        self.tasks[name]["state"] = "started" if action == "RESUME" else "suspended"
        return {"emulated": f"task {name} {'resumed' if action == 'RESUME' else 'suspended'}"}

    def condition(self, when):
        if when is None:
            return True
        found = re.fullmatch(r"SYSTEM\$STREAM_HAS_DATA\('([^']+)'\)", when)
        if not found or name_of(found.group(1)) not in self.streams:
            raise SqlError(f"the harness evaluates WHEN SYSTEM$STREAM_HAS_DATA('<stream>') only, not {when}")
        return self.execute(f"SELECT COUNT(*) FROM {name_of(found.group(1))}")[0][0] > 0

    def run_tasks(self, scan_time=None):
        ran = []
        ready = [n for n in self.order if self.tasks[n]["after"] is None and self.tasks[n]["state"] == "started"]
        while ready:
            name = ready.pop(0)
            task = self.tasks[name]
            if not self.condition(task["when"]):
                ran.append({"task": name, "skipped": "WHEN is false"})
                continue
            try:
                result = self.statement(task["body"], scan_time=scan_time)
            except SqlError as error:
                ran.append({"task": name, "failed": str(error)})
                return {"ran": ran, "failed": name, "error": str(error)}
            ran.append({"task": name, "result": result})
            ready.extend(
                n
                for n in self.order
                if self.tasks[n]["after"] == name
                and self.tasks[n]["state"] == "started"
                and not self.tasks[n].get("detached")
            )
        return {"ran": ran}

    def checks(self):
        results = []
        for statement in split_statements(open(os.path.join(self.sql_dir, "07_checks.sql"), encoding="utf-8").read()):
            if "@" in statement or "copy_history" in statement or "task_history" in statement:
                results.append({"structure_only": statement})
            else:
                results.append(self.rows(statement))
        return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sql", required=True)
    parser.add_argument("--lake", required=True)
    args = parser.parse_args()
    with fakesnow.patch():
        account = Account(args.sql, args.lake)
        print(json.dumps({"ok": True, "ready": True}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            try:
                cmd = request["cmd"]
                if cmd == "reset":
                    account = Account(request.get("sql", args.sql), request.get("lake", args.lake))
                    answer = {}
                elif cmd == "use_sql":
                    account.sql_dir = request["sql"]
                    answer = {}
                elif cmd == "run_file":
                    answer = {"results": account.run_file(request["name"], request.get("force", False), request.get("scan_time"))}
                elif cmd == "run_tasks":
                    answer = account.run_tasks(request.get("scan_time"))
                elif cmd == "table":
                    answer = account.rows(f"SELECT * FROM {request['name']} ORDER BY 1")
                elif cmd == "statement":
                    answer = {"result": account.statement(request["sql"], request.get("force", False), request.get("scan_time"))}
                elif cmd == "query":
                    answer = account.rows(request["sql"])
                elif cmd == "checks":
                    answer = {"results": account.checks()}
                elif cmd == "tasks":
                    answer = {"tasks": account.tasks, "order": account.order}
                else:
                    raise SqlError(f"unknown command {cmd}")
                answer["ok"] = True
            except SqlError as error:
                answer = {"ok": False, "error": str(error)}
            except Exception:
                answer = {"ok": False, "error": traceback.format_exc()}
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
