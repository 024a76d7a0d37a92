//! A record of the AWS calls made, so tests and the CLI can count reads and writes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One AWS call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The service called: `apigateway`, `apigatewayv2`, `cloudwatch`, `logs`, `sts` or `lambda`.
    pub service: &'static str,
    pub operation: &'static str,
    pub write: bool,
    pub ok: bool,
    /// How long the call waited for the client-side rate limit before it was sent.
    pub waited: Duration,
}

/// Shared, append-only log of AWS calls; clones share the same log.
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    pub(crate) fn record(
        &self,
        service: &'static str,
        operation: &'static str,
        write: bool,
        ok: bool,
        waited: Duration,
    ) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Call {
                service,
                operation,
                write,
                ok,
                waited,
            });
    }

    /// Everything recorded so far.
    pub fn snapshot(&self) -> Vec<Call> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Calls recorded since `mark` (a length of an earlier snapshot).
    pub fn since(&self, mark: usize) -> Vec<Call> {
        self.snapshot().split_off(mark.min(self.len()))
    }

    /// How many calls are recorded.
    pub fn len(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// True before the first call.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `reads: N (Op xK, ...), writes: M (...)` for humans; a count of none lists nothing
    /// (`writes: 0`).
    pub fn summary(calls: &[Call]) -> String {
        let part = |write: bool| {
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for call in calls.iter().filter(|c| c.write == write) {
                match counts.iter_mut().find(|(op, _)| *op == call.operation) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((call.operation, 1)),
                }
            }
            let total: usize = counts.iter().map(|(_, n)| n).sum();
            let list: Vec<String> = counts.iter().map(|(op, n)| format!("{op} x{n}")).collect();
            match total {
                0 => "0".to_owned(),
                total => format!("{total} ({})", list.join(", ")),
            }
        };
        format!("reads: {}, writes: {}", part(false), part(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_lists_the_operations_of_a_count_and_nothing_for_none() {
        let read = |operation| Call {
            service: "apigateway",
            operation,
            write: false,
            ok: true,
            waited: Duration::ZERO,
        };
        let calls = [read("GetRestApis"), read("GetStage"), read("GetStage")];
        assert_eq!(
            CallLog::summary(&calls),
            "reads: 3 (GetRestApis x1, GetStage x2), writes: 0"
        );
        assert_eq!(CallLog::summary(&[]), "reads: 0, writes: 0");
    }
}
