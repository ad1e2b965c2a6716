//! Unit tests of connection strings and settings (no server needed).

mod conninfo {
    use super::super::conninfo::*;

    fn parse(text: &str) -> ConnInfo {
        ConnInfo::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn uri_with_everything() {
        let info = parse(
            "postgresql://exporter:p%40ss%2Fw%3Fo%23rd%25@db1.internal:6432,[::1]:5433/app%20db?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        );
        assert_eq!(info.get("user"), Some("exporter"));
        assert_eq!(info.get("password"), Some("p@ss/w?o#rd%"));
        assert_eq!(info.get("host"), Some("db1.internal,::1"));
        assert_eq!(info.get("port"), Some("6432,5433"));
        assert_eq!(info.get("dbname"), Some("app db"));
        assert_eq!(info.get("sslmode"), Some("verify-full"));
        assert_eq!(info.get("sslrootcert"), Some("/etc/ca.pem"));
    }

    #[test]
    fn minimal_uris() {
        assert_eq!(parse("postgresql://"), ConnInfo::default());
        assert_eq!(parse("postgres://localhost").get("host"), Some("localhost"));
        assert_eq!(
            parse("postgresql://%2Fvar%2Frun%2Fpostgresql/app").get("host"),
            Some("/var/run/postgresql")
        );
        assert_eq!(
            parse("postgres://h/db?ssl=true").get("sslmode"),
            Some("require")
        );
        // A password may hold `:` after the first one.
        assert_eq!(parse("postgres://u:a:b@h/db").get("password"), Some("a:b"));
    }

    #[test]
    fn unescaped_characters_in_the_password_are_refused_without_quoting_it() {
        for url in [
            "postgres://u:p@ss@h/db",
            "postgres://u:pa/ss@h/db",
            "postgres://u:pa?ss@h/db",
            "postgres://u:pa#ss@h/db",
        ] {
            let err = ConnInfo::parse(url).unwrap_err();
            assert_eq!(err, ConnInfoError::UnescapedCredentials, "{url}");
            assert!(!err.to_string().contains("ss@"), "{err}");
        }
        let err = ConnInfo::parse("postgres://u:100%@h/db").unwrap_err();
        assert_eq!(err, ConnInfoError::BadPercent { part: "password" });
        assert!(!err.to_string().contains("100"));
    }

    #[test]
    fn key_value_form() {
        let info = parse("host=db.internal port=5432 dbname = app user=exporter sslmode=verify-ca");
        assert_eq!(info.get("host"), Some("db.internal"));
        assert_eq!(info.get("dbname"), Some("app"));
        assert_eq!(info.get("sslmode"), Some("verify-ca"));
        let info = parse("password='it\\'s a \\\\ secret' host=h");
        assert_eq!(info.get("password"), Some("it's a \\ secret"));
        assert_eq!(parse("password=a\\ b").get("password"), Some("a b"));
        assert!(matches!(
            ConnInfo::parse("host=h password='open"),
            Err(ConnInfoError::Syntax(_))
        ));
        assert!(matches!(
            ConnInfo::parse("host h"),
            Err(ConnInfoError::Syntax(_))
        ));
    }

    #[test]
    fn unknown_and_unsupported_keywords() {
        assert_eq!(
            ConnInfo::parse("postgres://h/db?sslmdoe=require").unwrap_err(),
            ConnInfoError::UnknownKeyword("sslmdoe".into())
        );
        assert!(matches!(
            ConnInfo::parse("host=h sslcrl=/x.crl").unwrap_err(),
            ConnInfoError::Unsupported { .. }
        ));
    }

    #[test]
    fn environment_fills_only_what_is_unset() {
        let env = |name: &str| match name {
            "PGHOST" => Some("envhost".to_owned()),
            "PGPASSWORD" => Some("envsecret".to_owned()),
            "PGSSLMODE" => Some(String::new()),
            _ => None,
        };
        let info = parse("postgres://u@urlhost/db").with_env(env).unwrap();
        assert_eq!(info.get("host"), Some("urlhost"));
        assert_eq!(info.get("password"), Some("envsecret"));
        assert_eq!(info.get("sslmode"), None);
    }

    #[test]
    fn recognises_connection_strings() {
        assert!(ConnInfo::is_postgres("postgres://h/db"));
        assert!(ConnInfo::is_postgres("host=h dbname=app"));
        assert!(!ConnInfo::is_postgres("sqlite://x.sqlite"));
        assert!(!ConnInfo::is_postgres("mysql://h/db"));
    }
}

mod settings {
    use super::super::conninfo::ConnInfo;
    use super::super::settings::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn settings(text: &str) -> Settings {
        let defaults = Defaults {
            home: Some(PathBuf::from("/nonexistent-home")),
            os_user: Some("ops".into()),
        };
        Settings::from_conninfo(&ConnInfo::parse(text).unwrap(), &defaults)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn libpq_defaults() {
        let s = settings("postgres://db.internal");
        assert_eq!(s.sslmode, SslMode::Prefer);
        assert_eq!(s.root_cert, None);
        assert_eq!(s.user, "ops");
        assert_eq!(s.dbname, "ops");
        assert_eq!(s.targets[0].port, 5432);
        assert_eq!(s.connect_timeout, Some(DEFAULT_CONNECT_TIMEOUT));
        assert!(s.keepalives);
        assert_eq!(s.application_name, "guardrail-followups");
    }

    #[test]
    fn require_verifies_only_with_a_root_certificate() {
        assert_eq!(settings("host=h sslmode=require").root_cert, None);
        assert_eq!(
            settings("host=h sslmode=require sslrootcert=/ca.pem").root_cert,
            Some(RootCert::File("/ca.pem".into()))
        );
        assert_eq!(
            settings("host=h sslmode=prefer sslrootcert=/ca.pem").root_cert,
            None
        );
        let system = settings("host=h sslrootcert=system");
        assert_eq!(system.sslmode, SslMode::VerifyFull);
        assert_eq!(system.root_cert, Some(RootCert::System));
        let weak = ConnInfo::parse("host=h sslrootcert=system sslmode=require").unwrap();
        assert!(
            Settings::from_conninfo(
                &weak,
                &Defaults {
                    home: None,
                    os_user: None
                }
            )
            .is_err()
        );
    }

    #[test]
    fn hosts_and_ports_pair_up() {
        let s = settings("postgres://a:1,b:2/db");
        assert_eq!(
            s.targets.iter().map(Target::describe).collect::<Vec<_>>(),
            ["a:1", "b:2"]
        );
        let s = settings("host=a,b port=6432");
        assert!(s.targets.iter().all(|t| t.port == 6432));
        assert_eq!(
            settings("connect_timeout=1 host=h").connect_timeout,
            Some(Duration::from_secs(2))
        );
        assert_eq!(settings("connect_timeout=0 host=h").connect_timeout, None);
    }
}
