//! The password file (`~/.pgpass`, `PGPASSFILE` or `passfile=`), read as libpq reads it:
//! `hostname:port:database:username:password` lines, `*` matching anything, `\` escaping
//! `:` and `\`. Used only when the connection string and `PGPASSWORD` give no password.

use std::path::Path;

/// The password for this server and role, if the file has one. A file that group or others
/// can read is ignored with a warning, as libpq does.
pub fn lookup(path: &Path, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "password file {} has group or world access and is ignored; fix: chmod 600 {}",
                path.display(),
                path.display()
            );
            return None;
        }
    }
    // Unix sockets match the host name `localhost`.
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    let wanted = [host, port.as_str(), dbname, user];
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .find_map(|line| {
            let fields = split(line);
            let [h, p, d, u, password] = fields.as_slice() else {
                return None;
            };
            [h, p, d, u]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field.as_str() == "*" || field.as_str() == want)
                .then(|| password.clone())
        })
}

/// Splits on unescaped `:` into at most five fields; the password takes the rest of the line.
fn split(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_libpq() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(
            &path,
            "# comment\nother:5432:*:*:nope\ndb.internal:5432:app:exporter:s\\:cr\\\\et\n*:*:*:*:fallback\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(
            lookup(&path, "db.internal", 5432, "app", "exporter").as_deref(),
            Some("s:cr\\et")
        );
        assert_eq!(
            lookup(&path, "/var/run/postgresql", 5432, "app", "x").as_deref(),
            Some("fallback")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(lookup(&path, "db.internal", 5432, "app", "exporter"), None);
        }
    }
}
