//! The outcome of one of `check`'s checks: ok, a note worth knowing, or a problem and its fix.
//! Each source, sink and cursor store checks itself and answers with these.

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(String),
    /// Not a problem, but worth knowing, with how to change it.
    Note {
        note: String,
        how: String,
    },
    Problem {
        problem: String,
        fix: String,
    },
}

impl Verdict {
    pub fn problem(problem: impl Into<String>, fix: impl Into<String>) -> Verdict {
        Verdict::Problem {
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// An error as a problem, with its own fix when it has one, else `fix`.
    pub fn from_error(error: &Error, fix: &str) -> Verdict {
        let (problem, own) = error.problem_and_fix();
        Verdict::Problem {
            problem,
            fix: own.unwrap_or_else(|| fix.to_owned()),
        }
    }
}

/// One named line of `check`'s report.
pub type Check = (&'static str, Verdict);
