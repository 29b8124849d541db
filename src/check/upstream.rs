//! Checks from test calls: the base URL is reachable, GHL accepts the token for the configured
//! location, the scopes cover each feature, and each endpoint family answers in the shape this
//! server reads. The first call (a one-contact search) gates the rest: when it fails, what
//! depends on it is reported as skipped, with the reason.

use std::time::Duration;

use super::rate;
use super::report::Check;
use super::Upstream;
use crate::highlevel::{
    GhlErrorKind, PathId, Probe, ProbeFailure, ProbeOutcome, Tenant, TransportFault, Unavailability, SCOPE_READ, SCOPE_TASKS_SEARCH, SCOPE_WRITE,
};

/// Where the tenant's scopes come from, which decides what "add the scope" means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeSource {
    /// `GHL_SCOPES`.
    Configured,
    /// The embedded sandbox's write token.
    Sandbox,
    /// The location's OAuth grant.
    Granted,
    /// A forwarded token: unknown.
    Caller,
}

impl ScopeSource {
    fn name(self) -> &'static str {
        match self {
            Self::Configured => "GHL_SCOPES",
            Self::Sandbox => "the embedded sandbox's token",
            Self::Granted => "the location's OAuth grant",
            Self::Caller => "the caller's token",
        }
    }

    fn how_to_grant(self, scope: &str) -> String {
        match self {
            Self::Granted => format!("reinstall the app with the scope `{scope}` (GHL_OAUTH_SCOPES) at /oauth/install"),
            _ => format!("grant `{scope}` to the token (GHL → Settings → Private Integrations → edit the integration's scopes) and add it to GHL_SCOPES"),
        }
    }
}

const ENDPOINTS: [&str; 5] = ["endpoint.contacts", "endpoint.tasks", "endpoint.notes", "endpoint.appointments", "endpoint.tasks_search"];
const SCOPES: [&str; 3] = ["scope.reads", "scope.writes", "scope.tasks_search"];

/// Every upstream check, with `tenant`'s token.
pub(super) async fn run(upstream: &Upstream, tenant: &Tenant, source: ScopeSource) -> Vec<Check> {
    let client = &upstream.client;
    let search = client.probe(tenant, Probe::SearchContacts).await;
    let mut checks = Vec::new();
    let stop = |checks: &mut Vec<Check>, why: &str, from: &[&str]| checks.extend(from.iter().map(|name| Check::skipped(*name, why)));
    let mut answered = vec![search.clone()];

    // 1. Reachable at all?
    let reach = reachability(upstream, &search);
    let reached = reach.status == super::Status::Ok;
    checks.push(reach);
    if !reached {
        let why = "not run: GHL was not reached (see base_url)";
        stop(&mut checks, why, &["token", "location"]);
        stop(&mut checks, why, &SCOPES);
        stop(&mut checks, why, &ENDPOINTS);
        checks.extend(rate::checks(&answered, false));
        return checks;
    }

    // 2. The token, and 3. its location, from the search's answer.
    let location = tenant.location_id();
    let refused = match &search.result {
        Err(ProbeFailure::Refused(kind)) => Some(kind.clone()),
        _ => None,
    };
    match refused {
        Some(GhlErrorKind::Unauthenticated) => {
            checks.push(Check::failed(
                "token",
                format!("GHL refused the token ({}): it is wrong, expired or revoked", status_of(&search)),
                token_action(source),
            ));
            let why = "not run: GHL refused the token";
            stop(&mut checks, why, &["location"]);
            stop(&mut checks, why, &SCOPES);
            stop(&mut checks, why, &ENDPOINTS);
            checks.extend(rate::checks(&answered, true));
            return checks;
        }
        Some(GhlErrorKind::RateLimited { .. } | GhlErrorKind::DailyBudgetExhausted { .. }) => {
            let why = "not verified: GHL answered 429 (rate limited) before looking at the token (see rate_limit.*)";
            stop(&mut checks, why, &["token", "location"]);
            stop(&mut checks, "not run: GHL is refusing calls for now (see rate_limit.*)", &SCOPES);
            stop(&mut checks, "not run: GHL is refusing calls for now (see rate_limit.*)", &ENDPOINTS);
            checks.extend(rate::checks(&answered, true));
            return checks;
        }
        Some(GhlErrorKind::Forbidden) => {
            checks.push(Check::ok("token", "GHL knows the token (it answered 403 for the location, not 401)"));
            checks.push(Check::failed(
                "location",
                format!("GHL answered 403 for location `{location}`: the token belongs to another location (sub-account)"),
                location_action(source),
            ));
            let why = "not run: the token does not reach the location";
            stop(&mut checks, why, &SCOPES);
            stop(&mut checks, why, &ENDPOINTS);
            checks.extend(rate::checks(&answered, true));
            return checks;
        }
        Some(GhlErrorKind::MissingScope) => {
            checks.push(Check::ok("token", "GHL accepted the token"));
            checks.push(Check::skipped("location", "not verified: the token may not search contacts (see scope.reads)"));
            checks.push(Check::failed(
                "scope.reads",
                format!("the token lacks `{SCOPE_READ}`: GHL refuses every read, so every query fails"),
                source.how_to_grant(SCOPE_READ),
            ));
            checks.push(writes(tenant, source));
            checks.push(Check::skipped("scope.tasks_search", "not run: the token may not read contacts"));
            stop(&mut checks, "not run: the token may not read contacts (see scope.reads)", &ENDPOINTS);
            checks.extend(rate::checks(&answered, true));
            return checks;
        }
        Some(other) => {
            checks.push(Check::warning(
                "token",
                format!("not verified: GHL refused the test search ({}: {other})", status_of(&search)),
                "run the check again; if it persists, report it with the status above",
            ));
            stop(&mut checks, "not run: the test search failed", &["location"]);
            stop(&mut checks, "not run: the test search failed", &SCOPES);
            stop(&mut checks, "not run: the test search failed", &ENDPOINTS);
            checks.extend(rate::checks(&answered, true));
            return checks;
        }
        None => {
            checks.push(Check::ok("token", "GHL accepted the token"));
            checks.push(Check::ok("location", format!("the token reaches location `{location}`")));
        }
    }

    // 4. Endpoint families, with the first contact the search found.
    let contact = search.result.as_ref().ok().and_then(|a| a.first_contact.as_deref()).and_then(|id| PathId::parse(id, "contactId").ok());
    let mut endpoints = Vec::new();
    let mut tasks_search = None;
    match &contact {
        None => {
            endpoints.push(match &search.result {
                Ok(_) => Check::ok("endpoint.contacts", format!("{} answered in {} (the location has no contacts yet)", search.endpoint, ms(search.elapsed))),
                Err(_) => endpoint("endpoint.contacts", &search, source),
            });
            let why = "not run: the location has no contact to read tasks, notes and appointments of";
            endpoints.extend(ENDPOINTS[1..].iter().map(|name| Check::skipped(*name, why)));
        }
        Some(id) => {
            let get = client.probe(tenant, Probe::GetContact(id)).await;
            endpoints.push(match (&search.result, &get.result) {
                (Ok(_), Ok(_)) => Check::ok(
                    "endpoint.contacts",
                    format!("{} answered in {} and {} in {}", search.endpoint, ms(search.elapsed), get.endpoint, ms(get.elapsed)),
                ),
                (Err(_), _) => endpoint("endpoint.contacts", &search, source),
                (_, Err(_)) => endpoint("endpoint.contacts", &get, source),
            });
            answered.push(get);
            for (name, probe) in
                [("endpoint.tasks", Probe::Tasks(id)), ("endpoint.notes", Probe::Notes(id)), ("endpoint.appointments", Probe::Appointments(id))]
            {
                let outcome = client.probe(tenant, probe).await;
                endpoints.push(endpoint(name, &outcome, source));
                answered.push(outcome);
            }
            let outcome = client.probe(tenant, Probe::SearchTasks(id)).await;
            tasks_search = Some(outcome.clone());
            answered.push(outcome);
        }
    }

    // 5. Scopes against features.
    checks.push(match tenant.grants(SCOPE_READ) {
        Some(false) => Check::failed(
            "scope.reads",
            format!("{} does not list `{SCOPE_READ}`: every query is refused before calling GHL, though GHL answered the test search", source.name()),
            format!("add `{SCOPE_READ}` to {}", source.name()),
        ),
        _ => Check::ok("scope.reads", format!("`{SCOPE_READ}` granted: queries work")),
    });
    checks.push(writes(tenant, source));
    let (scope, family) = tasks_batching(tenant, source, tasks_search.as_ref());
    checks.push(scope);
    match family {
        Some(check) => endpoints.push(check),
        None if contact.is_some() => endpoints.push(endpoint("endpoint.tasks_search", tasks_search.as_ref().unwrap_or(&search), source)),
        None => {}
    }
    checks.extend(endpoints);
    checks.extend(rate::checks(&answered, true));
    checks
}

/// Without a token (forward mode, no caller): only whether GHL is reachable.
pub(super) async fn reach_only(upstream: &Upstream, anonymous: &Tenant, mode: &str) -> Vec<Check> {
    let search = upstream.client.probe(anonymous, Probe::SearchContacts).await;
    let mut checks = vec![reachability(upstream, &search)];
    let why = match mode {
        "forward" => "not run: in forward mode each caller sends its own token (run the connectionCheck query with a caller's headers to test one)",
        _ => "not run: no location has a usable token (see oauth.*)",
    };
    checks.extend(["token", "location"].iter().chain(SCOPES.iter()).chain(ENDPOINTS.iter()).map(|name| Check::skipped(*name, why)));
    checks.extend(rate::checks(&[], false).into_iter().map(|c| Check::skipped(c.name, why)));
    checks
}

/// `base_url`: did an HTTP answer come back, from something that serves GHL's paths?
fn reachability(upstream: &Upstream, search: &ProbeOutcome) -> Check {
    let url = reqwest::Url::parse(&upstream.base_url).ok();
    let host = url.as_ref().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let port = url.as_ref().and_then(reqwest::Url::port_or_known_default).unwrap_or(443);
    let fix_url = "check GHL_BASE_URL (GHL's API is https://services.leadconnectorhq.com)";
    match (&search.result, search.status) {
        (Err(ProbeFailure::Transport(fault)), _) => {
            let (diagnosis, action) = match fault {
                TransportFault::Dns => {
                    (format!("the host `{host}` does not resolve (DNS lookup failed)"), format!("{fix_url} and this machine's DNS settings"))
                }
                TransportFault::Refused => (
                    format!("{host}:{port} refused the connection: nothing listens there"),
                    format!("{fix_url}: its host and port; is the server or proxy there running?"),
                ),
                TransportFault::Tls => (
                    format!("the TLS handshake with {host}:{port} failed: its certificate is not trusted or not for this name, or it does not speak TLS"),
                    "use https:// only where TLS is served; behind a TLS-intercepting proxy its CA must be trusted; check the system clock".to_owned(),
                ),
                TransportFault::ConnectTimeout => (
                    format!("no connection to {host}:{port} within the connect timeout ({})", human(upstream.connect_timeout)),
                    "a firewall may drop the traffic: check outbound access to that host and port, or raise GHL_CONNECT_TIMEOUT".to_owned(),
                ),
                TransportFault::Timeout => (
                    format!("connected to {host}:{port} but got no answer within the request timeout ({})", human(upstream.request_timeout)),
                    "GHL (or a proxy on the way) is slow: run the check again, or raise GHL_REQUEST_TIMEOUT".to_owned(),
                ),
                TransportFault::Connect => {
                    (format!("could not connect to {host}:{port} (network unreachable?)"), format!("{fix_url} and this machine's network"))
                }
                TransportFault::Broken => {
                    (format!("the connection to {host}:{port} broke before GHL answered"), "run the check again; a proxy may be cutting connections".to_owned())
                }
            };
            Check::failed("base_url", diagnosis, action)
        }
        (Err(ProbeFailure::Refused(GhlErrorKind::NotFound)), Some(status)) => Check::failed(
            "base_url",
            format!("{host} answers, but not as GHL's API: {} is {status} there", search.endpoint),
            "set GHL_BASE_URL to the API root, https://services.leadconnectorhq.com, with no path",
        ),
        (Err(ProbeFailure::Refused(GhlErrorKind::Unavailable { reason: Unavailability::ServerError })), Some(status)) => Check::failed(
            "base_url",
            format!("GHL answered {status}: it is failing right now"),
            "run the check again in a few minutes; GHL's status page is https://status.gohighlevel.com",
        ),
        (_, status) => Check::ok("base_url", format!("GHL answered {} with {} in {}", search.endpoint, status.unwrap_or(0), ms(search.elapsed))),
    }
}

/// `scope.writes`, judged by scopes only: a test write would change data.
fn writes(tenant: &Tenant, source: ScopeSource) -> Check {
    match tenant.grants(SCOPE_WRITE) {
        Some(true) => Check::ok(
            "scope.writes",
            format!("`{SCOPE_WRITE}` granted per {}: mutations available (not probed: a test write would change data)", source.name()),
        ),
        Some(false) => Check::warning(
            "scope.writes",
            format!("`{SCOPE_WRITE}` not granted: mutations unavailable (refused before any GHL call)"),
            format!("nothing to do if this server only reads (least privilege); for mutations, {}", source.how_to_grant(SCOPE_WRITE)),
        ),
        None => Check::skipped("scope.writes", "unknown: GHL decides for each caller's token (not probed: a test write would change data)"),
    }
}

/// `scope.tasks_search` (tasks batching), and `endpoint.tasks_search` when the scope decides it.
fn tasks_batching(tenant: &Tenant, source: ScopeSource, probe: Option<&ProbeOutcome>) -> (Check, Option<Check>) {
    let name = "scope.tasks_search";
    let missing = probe.is_some_and(|p| matches!(p.result, Err(ProbeFailure::Refused(GhlErrorKind::MissingScope))));
    let answered = probe.is_some_and(|p| p.result.is_ok());
    match (tenant.grants(SCOPE_TASKS_SEARCH), missing, answered) {
        (Some(true), true, _) => (
            Check::failed(
                name,
                format!("{} lists `{SCOPE_TASKS_SEARCH}` but the token lacks it: GHL refuses the tasks search, so every contact's tasks fail", source.name()),
                format!("remove `{SCOPE_TASKS_SEARCH}` from {}, or {}", source.name(), source.how_to_grant(SCOPE_TASKS_SEARCH)),
            ),
            Some(Check::failed("endpoint.tasks_search", "GHL refused the tasks search: the token lacks the scope (see scope.tasks_search)", source.how_to_grant(SCOPE_TASKS_SEARCH))),
        ),
        (Some(true), false, _) => (Check::ok(name, format!("`{SCOPE_TASKS_SEARCH}` granted: tasks of many contacts load in one call (batching on)")), None),
        (Some(false), _, true) => (
            Check::warning(
                name,
                format!("the token may search tasks, but {} does not list `{SCOPE_TASKS_SEARCH}`: tasks batching off, each contact's tasks load with their own call", source.name()),
                format!("add `{SCOPE_TASKS_SEARCH}` to {} to batch tasks", source.name()),
            ),
            None,
        ),
        (Some(false), _, false) => (
            Check::warning(
                name,
                format!("`{SCOPE_TASKS_SEARCH}` not granted: tasks batching off, each contact's tasks load with their own call (they still load)"),
                format!("optional, for fewer GHL calls: {}", source.how_to_grant(SCOPE_TASKS_SEARCH)),
            ),
            missing.then(|| Check::skipped("endpoint.tasks_search", format!("not used: `{SCOPE_TASKS_SEARCH}` not granted (see scope.tasks_search)"))),
        ),
        (None, _, _) => (
            Check::skipped(name, "unknown scopes (forwarded token): this server loads each contact's tasks with their own call"),
            missing.then(|| Check::skipped("endpoint.tasks_search", format!("not used with forwarded tokens; this one lacks `{SCOPE_TASKS_SEARCH}`"))),
        ),
    }
}

/// An endpoint family's check from its probe.
fn endpoint(name: &str, outcome: &ProbeOutcome, source: ScopeSource) -> Check {
    let status = status_of(outcome);
    match &outcome.result {
        Ok(answer) => Check::ok(name, format!("{} answered in {} ({} item(s))", outcome.endpoint, ms(outcome.elapsed), answer.items)),
        Err(ProbeFailure::Unreadable) => Check::failed(
            name,
            format!("{} answered {status} with a body this server cannot read (not the documented shape)", outcome.endpoint),
            "report it: GHL may have changed this endpoint",
        ),
        Err(ProbeFailure::Transport(_)) => Check::failed(name, format!("{} got no answer (the connection failed)", outcome.endpoint), "run the check again"),
        Err(ProbeFailure::Refused(GhlErrorKind::MissingScope)) => {
            Check::failed(name, format!("GHL refused {} ({status}): the token lacks the scope", outcome.endpoint), source.how_to_grant(SCOPE_READ))
        }
        Err(ProbeFailure::Refused(GhlErrorKind::RateLimited { .. } | GhlErrorKind::DailyBudgetExhausted { .. })) => {
            Check::warning(name, format!("not verified: GHL answered {} with 429 (rate limited)", outcome.endpoint), "run the check again in a minute")
        }
        Err(ProbeFailure::Refused(kind)) => Check::failed(
            name,
            format!("GHL answered {} with {status}: {kind}", outcome.endpoint),
            "run the check again; if it persists, report it with the status above",
        ),
    }
}

fn token_action(source: ScopeSource) -> String {
    match source {
        ScopeSource::Granted => "the server refreshes a refused token on its next request; if that fails too, reinstall the app at /oauth/install".to_owned(),
        ScopeSource::Caller => "the caller must send a valid GHL access token in `Authorization: Bearer …`".to_owned(),
        _ => "create a Private Integration token in the location (GHL → Settings → Private Integrations → Create new integration, with the scopes \
              contacts.readonly, and contacts.write and locations/tasks.readonly as needed) and set it as GHL_TOKEN"
            .to_owned(),
    }
}

fn location_action(source: ScopeSource) -> String {
    match source {
        ScopeSource::Configured | ScopeSource::Sandbox => {
            "set GHL_LOCATION_ID to the token's location (GHL → Settings → Business Profile shows the Location ID), or use a token created in this location"
                .to_owned()
        }
        ScopeSource::Granted => "the stored pair is not this location's: reinstall the app from this location".to_owned(),
        ScopeSource::Caller => "send the location the token belongs to in `x-ghl-location-id`".to_owned(),
    }
}

fn status_of(outcome: &ProbeOutcome) -> String {
    outcome.status.map_or_else(|| "no answer".to_owned(), |s| s.to_string())
}

fn ms(elapsed: Duration) -> String {
    format!("{} ms", elapsed.as_millis())
}

fn human(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}
