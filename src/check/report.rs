//! The report: one [`Check`] per finding, its text form (one line per check with a mark, then
//! the diagnosis and what to do, indented) and its JSON form (documented in README, "Connection
//! check"). Nothing here holds a secret: checks are written from statuses, settings' names and
//! ids, never from a token or an upstream body.

use std::fmt::Write as _;

use serde::Serialize;

/// How a check came out. Only `Failed` makes the report fail: a warning still works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Failed,
    /// Not run: what it needs failed first, or it does not apply to this mode.
    Skipped,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Self::Ok => "[ok]  ",
            Self::Warning => "[warn]",
            Self::Failed => "[FAIL]",
            Self::Skipped => "[skip]",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable, dotted: `base_url`, `token`, `scope.writes`, `endpoint.tasks`, `oauth.location.<id>` …
    pub name: String,
    pub status: Status,
    /// What was found, in plain words.
    pub diagnosis: String,
    /// What to do about it; `None` when nothing needs doing.
    pub action: Option<String>,
}

impl Check {
    pub fn ok(name: impl Into<String>, diagnosis: impl Into<String>) -> Self {
        Self { name: name.into(), status: Status::Ok, diagnosis: diagnosis.into(), action: None }
    }

    pub fn skipped(name: impl Into<String>, diagnosis: impl Into<String>) -> Self {
        Self { name: name.into(), status: Status::Skipped, diagnosis: diagnosis.into(), action: None }
    }

    pub fn warning(name: impl Into<String>, diagnosis: impl Into<String>, action: impl Into<String>) -> Self {
        Self { name: name.into(), status: Status::Warning, diagnosis: diagnosis.into(), action: Some(action.into()) }
    }

    pub fn failed(name: impl Into<String>, diagnosis: impl Into<String>, action: impl Into<String>) -> Self {
        Self { name: name.into(), status: Status::Failed, diagnosis: diagnosis.into(), action: Some(action.into()) }
    }
}

/// Everything the check found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// True when no check failed (warnings allowed): `ghl-subgraph check` then exits 0.
    pub ok: bool,
    /// GHL's base URL, without any user info.
    pub base_url: String,
    /// `static`, `forward`, `oauth` or `embedded-sandbox`.
    pub auth: &'static str,
    /// The location the test calls acted for, when there was one.
    pub location: Option<String>,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(base_url: String, auth: &'static str, location: Option<String>, checks: Vec<Check>) -> Self {
        let ok = !checks.iter().any(|c| c.status == Status::Failed);
        Self { ok, base_url, auth, location, checks }
    }

    /// Text for a terminal or a log.
    pub fn to_text(&self) -> String {
        let mut out = format!("GHL connection check: {} ({} auth", self.base_url, self.auth);
        if let Some(location) = &self.location {
            let _ = write!(out, ", location {location}");
        }
        out.push_str(")\n");
        for check in &self.checks {
            let _ = writeln!(out, "{} {}", check.status.mark(), check.name);
            let _ = writeln!(out, "       {}", check.diagnosis);
            if let Some(action) = &check.action {
                let _ = writeln!(out, "       To do: {action}");
            }
        }
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        let (failed, warnings) = (count(Status::Failed), count(Status::Warning));
        let _ = match self.ok {
            true => writeln!(out, "Result: everything needed works ({warnings} warning(s)); exit status 0."),
            false => writeln!(out, "Result: {failed} check(s) failed, {warnings} warning(s); exit status 1."),
        };
        out
    }

    /// One JSON document (pretty-printed), the same fields as the `connectionCheck` query.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{\"ok\":false}".to_owned()) + "\n"
    }
}

/// `scheme://host[:port]/path` of a base URL: user info (a credential) and query are dropped.
pub fn display_url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(url) => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}{}", url.scheme(), url.host_str().unwrap_or(""), url.path().trim_end_matches('/'))
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_still_passes_and_a_failure_does_not() {
        let warned = Report::new("http://x".into(), "static", None, vec![Check::ok("a", "fine"), Check::warning("b", "meh", "maybe")]);
        assert!(warned.ok);
        let failed = Report::new("http://x".into(), "static", None, vec![Check::failed("c", "broken", "fix it")]);
        assert!(!failed.ok);
        assert!(failed.to_text().contains("[FAIL] c\n       broken\n       To do: fix it\n"), "{}", failed.to_text());
    }

    #[test]
    fn user_info_never_shows_in_the_base_url() {
        assert_eq!(display_url("https://user:secret@ghl.example:8443/api/?token=x"), "https://ghl.example:8443/api");
        assert_eq!(display_url("https://services.leadconnectorhq.com"), "https://services.leadconnectorhq.com");
    }
}
