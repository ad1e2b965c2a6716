//! How a run ended, as the status JSON and the metrics textfile name it: written by the
//! exporter's report, read back by the ops page.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failed,
    Interrupted,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failed, Outcome::Interrupted];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// The outcome a label names.
    pub fn parse(text: &str) -> Option<Outcome> {
        let text = text.trim();
        Outcome::ALL.into_iter().find(|o| o.label() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_reads_back_as_its_outcome() {
        for outcome in Outcome::ALL {
            assert_eq!(
                Outcome::parse(&format!(" {} ", outcome.label())),
                Some(outcome)
            );
        }
        assert_eq!(Outcome::parse("ok"), None);
    }
}
