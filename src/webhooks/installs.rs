//! GHL's `INSTALL` and `UNINSTALL` events (AppInstall / AppUninstall): the app's lifecycle per
//! location. Read apart from the contacts events, since they change which locations we serve
//! rather than what is cached. A location added later under `installToFutureLocations` fires an
//! INSTALL without `userId` or `companyId`, so both are optional.

use serde::Deserialize;

use super::events::Delivery;

#[derive(Debug, PartialEq, Eq)]
pub enum Lifecycle {
    Install,
    Uninstall,
}

/// One INSTALL or UNINSTALL.
#[derive(Debug, PartialEq, Eq)]
pub struct AppEvent {
    pub lifecycle: Lifecycle,
    pub location_id: String,
    pub company_id: Option<String>,
}

impl AppEvent {
    pub fn event_type(&self) -> &'static str {
        match self.lifecycle {
            Lifecycle::Install => "INSTALL",
            Lifecycle::Uninstall => "UNINSTALL",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(rename = "type")]
    event_type: String,
    location_id: Option<String>,
    company_id: Option<String>,
    webhook_id: Option<String>,
    timestamp: Option<String>,
}

/// `None` unless the body is an INSTALL or UNINSTALL naming a location (an agency-level event
/// with no location changes no location's tokens).
pub fn parse(body: &[u8]) -> Option<(AppEvent, Delivery)> {
    let wire: Wire = serde_json::from_slice(body).ok()?;
    let lifecycle = match wire.event_type.as_str() {
        "INSTALL" => Lifecycle::Install,
        "UNINSTALL" => Lifecycle::Uninstall,
        _ => return None,
    };
    let location_id = wire.location_id.filter(|l| !l.is_empty())?;
    let delivery = Delivery { webhook_id: wire.webhook_id, timestamp: wire.timestamp };
    Some((AppEvent { lifecycle, location_id, company_id: wire.company_id.filter(|c| !c.is_empty()) }, delivery))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_events_may_lack_the_company_and_other_types_are_not_lifecycle_events() {
        let (event, _) = parse(br#"{"type":"INSTALL","appId":"a","locationId":"loc","installType":"Location"}"#).expect("an install");
        assert_eq!(event, AppEvent { lifecycle: Lifecycle::Install, location_id: "loc".into(), company_id: None });
        let (event, delivery) = parse(br#"{"type":"UNINSTALL","locationId":"loc","companyId":"co","webhookId":"w"}"#).expect("an uninstall");
        assert_eq!((event.lifecycle, event.company_id.as_deref(), delivery.webhook_id.as_deref()), (Lifecycle::Uninstall, Some("co"), Some("w")));
        assert_eq!(parse(br#"{"type":"ContactCreate","locationId":"loc"}"#), None);
        assert_eq!(parse(br#"{"type":"INSTALL","companyId":"co"}"#), None, "no location");
    }
}
