//! GHL's `INSTALL` and `UNINSTALL` events (AppInstall / AppUninstall docs): sent when a location
//! installs or uninstalls the app. A location added later under an agency's
//! `installToFutureLocations` is installed without anyone consenting, so its INSTALL carries no
//! `userId` and no `companyId`, as GHL's does.

use serde_json::{json, Value};

use crate::OAUTH_CLIENT_ID;

/// The marketplace app's id: the client id up to its first `-`, as the official SDK checks it.
fn app_id() -> &'static str {
    OAUTH_CLIENT_ID.split('-').next().unwrap_or(OAUTH_CLIENT_ID)
}

/// `user_id` and `company_id` are `None` for a location installed as a future location.
pub(crate) fn install_event(location_id: &str, company_id: Option<&str>, user_id: Option<&str>) -> Value {
    let mut event = json!({
        "type": "INSTALL",
        "appId": app_id(),
        "versionId": app_id(),
        "installType": "Location",
        "locationId": location_id,
        "companyName": "Sandbox Agency",
        "isWhitelabelCompany": false,
    });
    if let Some(company_id) = company_id {
        event["companyId"] = json!(company_id);
    }
    if let Some(user_id) = user_id {
        event["userId"] = json!(user_id);
    }
    event
}

pub(crate) fn uninstall_event(location_id: &str, company_id: &str) -> Value {
    json!({ "type": "UNINSTALL", "appId": app_id(), "locationId": location_id, "companyId": company_id })
}
