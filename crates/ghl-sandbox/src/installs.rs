//! Where the app is installed, as GHL keeps it: per location (with the company it belongs to) and
//! per agency (Company) install, whose `installToFutureLocations` decides whether a location
//! added later is installed at once. Every sandbox location belongs to [`crate::COMPANY_ID`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

/// What an agency approved when it installed the app.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AgencyInstall {
    pub approved_locations: BTreeSet<String>,
    pub install_to_future_locations: bool,
    pub approve_all_locations: bool,
}

#[derive(Default)]
pub(crate) struct Installs {
    /// Installed locations and when.
    locations: BTreeMap<String, DateTime<Utc>>,
    /// Agency installs by company id.
    agencies: BTreeMap<String, AgencyInstall>,
}

impl Installs {
    /// True when the location was not installed before.
    pub(crate) fn install_location(&mut self, location_id: &str) -> bool {
        if self.locations.contains_key(location_id) {
            return false;
        }
        self.locations.insert(location_id.to_owned(), Utc::now());
        true
    }

    /// Records an agency install and installs each approved location; the newly installed ones.
    pub(crate) fn install_agency(&mut self, company_id: &str, agency: AgencyInstall) -> Vec<String> {
        let added = agency.approved_locations.iter().filter(|l| self.install_location(l)).cloned().collect();
        self.agencies.insert(company_id.to_owned(), agency);
        added
    }

    /// True when the location was installed. It leaves its agency's approved list too.
    pub(crate) fn uninstall_location(&mut self, location_id: &str) -> bool {
        for agency in self.agencies.values_mut() {
            agency.approved_locations.remove(location_id);
        }
        self.locations.remove(location_id).is_some()
    }

    /// A location new to `company_id`: installed (and approved) when its agency install says
    /// `installToFutureLocations`. True when it was installed.
    pub(crate) fn location_added(&mut self, company_id: &str, location_id: &str) -> bool {
        let Some(agency) = self.agencies.get_mut(company_id).filter(|a| a.install_to_future_locations) else {
            return false;
        };
        agency.approved_locations.insert(location_id.to_owned());
        self.install_location(location_id)
    }

    /// Adds `location_id` to the company's agency install, when there is one.
    pub(crate) fn approve_for_agency(&mut self, company_id: &str, location_id: &str) {
        if let Some(agency) = self.agencies.get_mut(company_id) {
            agency.approved_locations.insert(location_id.to_owned());
        }
    }

    pub(crate) fn installed_at(&self, location_id: &str) -> Option<DateTime<Utc>> {
        self.locations.get(location_id).copied()
    }

    /// Whether `company_id`'s agency token may mint a token for `location_id`.
    pub(crate) fn agency_may_mint(&self, company_id: &str, location_id: &str) -> bool {
        self.locations.contains_key(location_id) && self.agencies.get(company_id).is_some_and(|a| a.approved_locations.contains(location_id))
    }

    pub(crate) fn agency(&self, company_id: &str) -> Option<&AgencyInstall> {
        self.agencies.get(company_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_location_is_installed_only_under_install_to_future_locations() {
        let mut installs = Installs::default();
        let approved = ["a".to_owned()].into_iter().collect();
        assert_eq!(
            installs.install_agency("co", AgencyInstall { approved_locations: approved, install_to_future_locations: false, approve_all_locations: false }),
            vec!["a"]
        );
        assert!(!installs.location_added("co", "b"));
        assert!(!installs.agency_may_mint("co", "b"));
        installs.agencies.get_mut("co").unwrap().install_to_future_locations = true;
        assert!(installs.location_added("co", "b"));
        assert!(installs.agency_may_mint("co", "b"));
        assert!(installs.uninstall_location("a"));
        assert!(!installs.agency_may_mint("co", "a"));
        assert!(!installs.uninstall_location("a"));
    }
}

/// What happens in GHL when the app is installed on, or uninstalled from, a location (consent
/// screen, control API): the install recorded, tokens revoked, the event sent.
pub(crate) mod actions {
    use crate::state::App;
    use crate::webhooks::{install_event, uninstall_event};
    use crate::COMPANY_ID;

    /// A location-level install by `user_id`; the INSTALL event goes only for a new install. Under
    /// an agency install of the company, the location is approved for it too (its token mints).
    pub(crate) fn install_location(app: &App, location_id: &str, user_id: &str) {
        let mut installs = app.installs();
        installs.approve_for_agency(COMPANY_ID, location_id);
        let added = installs.install_location(location_id);
        drop(installs);
        if added {
            app.webhooks.emit(install_event(location_id, Some(COMPANY_ID), Some(user_id)));
        }
    }

    /// An agency install: each newly installed location gets its INSTALL event.
    pub(crate) fn install_agency(app: &App, agency: super::AgencyInstall, user_id: &str) {
        let added = app.installs().install_agency(COMPANY_ID, agency);
        for location_id in added {
            app.webhooks.emit(install_event(&location_id, Some(COMPANY_ID), Some(user_id)));
        }
    }

    /// The location's OAuth tokens stop working at once; true when it was installed.
    pub(crate) fn uninstall_location(app: &App, location_id: &str) -> bool {
        let was_installed = app.installs().uninstall_location(location_id);
        app.tokens.revoke_location(location_id);
        app.oauth.revoke_location(location_id);
        if was_installed {
            app.webhooks.emit(uninstall_event(location_id, COMPANY_ID));
        }
        was_installed
    }

    /// A new sub-account of the company; installed (INSTALL without userId/companyId) when its
    /// agency install has `installToFutureLocations`. False when the id is taken.
    pub(crate) fn add_location(app: &App, location_id: &str) -> Result<bool, ()> {
        if !app.write().add_location(location_id) {
            return Err(());
        }
        let installed = app.installs().location_added(COMPANY_ID, location_id);
        if installed {
            app.webhooks.emit(install_event(location_id, None, None));
        }
        Ok(installed)
    }
}
