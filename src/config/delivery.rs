//! The `[delivery]` section: prices (per creator and bundle, integer minor units and one
//! currency; free is a price of 0), the co-op split, and download links' lifetime and
//! uses. Checked by [`DeliveryConfig::validate`], every problem named by its key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Largest price of one line, in minor units: far above any photo sold at a stall, far
/// below where a sum of lines could overflow.
pub const MAX_PRICE_MINOR: u64 = 100_000_000;

/// Delivery: prices, the co-op split, download links.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// ISO 4217 code of every price (`EUR`, `GBP`, `USD`): three capital letters.
    pub currency: String,
    /// Price of one photo, in minor units (cents), for creators without their own.
    pub photo_price: u64,
    /// Price of the event-day bundle (all photos tagged to the attendee from one
    /// creator), in minor units, for creators without their own.
    pub bundle_price: u64,
    /// The organiser's share of every line, in percent (0 to 100); rounded down to a
    /// whole minor unit, the creator gets the rest.
    pub organiser_percent: u8,
    /// Prices of individual creators, by creator name (as on the box).
    pub creators: BTreeMap<String, CreatorPrices>,
    /// How long a download link is valid, counted from its issue, in seconds.
    pub link_ttl_secs: u64,
    /// How many downloads of a full photo a link allows.
    pub link_uses: u32,
}

/// One creator's prices; a price left out is the section's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CreatorPrices {
    /// Price of one photo, in minor units.
    pub photo: Option<u64>,
    /// Price of the event-day bundle, in minor units.
    pub bundle: Option<u64>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            currency: "EUR".into(),
            photo_price: 500,
            bundle_price: 2000,
            organiser_percent: 0,
            creators: BTreeMap::new(),
            link_ttl_secs: 86_400,
            link_uses: 3,
        }
    }
}

impl DeliveryConfig {
    /// The price of one photo and of the bundle of the creator named `creator`.
    pub fn prices(&self, creator: &str) -> (u64, u64) {
        let own = self
            .creators
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(creator))
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        (
            own.photo.unwrap_or(self.photo_price),
            own.bundle.unwrap_or(self.bundle_price),
        )
    }

    /// Semantic checks of the `[delivery]` section.
    pub(crate) fn validate(&self, bad: &mut dyn FnMut(&str, String)) {
        // (Its length is bounded with every string key's.)
        if self.currency.len() <= 3
            && (self.currency.len() < 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()))
        {
            bad(
                "delivery.currency",
                format!("{:?} is not an ISO 4217 code like \"EUR\"", self.currency),
            );
        }
        let mut price = |key: String, value: u64| {
            if value > MAX_PRICE_MINOR {
                bad(
                    &key,
                    format!("{value} is more than {MAX_PRICE_MINOR} (minor units)"),
                );
            }
        };
        price("delivery.photo_price".into(), self.photo_price);
        price("delivery.bundle_price".into(), self.bundle_price);
        for (name, p) in &self.creators {
            if let Some(v) = p.photo {
                price(format!("delivery.creators.{name}.photo"), v);
            }
            if let Some(v) = p.bundle {
                price(format!("delivery.creators.{name}.bundle"), v);
            }
        }
        for name in self.creators.keys() {
            if name.trim().is_empty() || name.chars().count() > 64 {
                bad(
                    "delivery.creators",
                    format!("{name:?} is not a creator name (1 to 64 characters)"),
                );
            }
        }
        if self.organiser_percent > 100 {
            bad(
                "delivery.organiser_percent",
                format!("{} is more than 100", self.organiser_percent),
            );
        }
        if !(60..=30 * 86_400).contains(&self.link_ttl_secs) {
            bad(
                "delivery.link_ttl_secs",
                format!(
                    "{} is not between 60 and 2592000 (30 days)",
                    self.link_ttl_secs
                ),
            );
        }
        if !(1..=100).contains(&self.link_uses) {
            bad(
                "delivery.link_uses",
                format!("{} is not between 1 and 100", self.link_uses),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_price_is_named_by_its_key() {
        let mut c = DeliveryConfig {
            currency: "eur".into(),
            photo_price: MAX_PRICE_MINOR + 1,
            organiser_percent: 101,
            link_uses: 0,
            ..Default::default()
        };
        c.creators.insert(
            "Anna".into(),
            CreatorPrices {
                photo: Some(0),
                bundle: Some(u64::MAX),
            },
        );
        let mut keys = Vec::new();
        c.validate(&mut |k, _| keys.push(k.to_string()));
        assert_eq!(
            keys,
            [
                "delivery.currency",
                "delivery.photo_price",
                "delivery.creators.Anna.bundle",
                "delivery.organiser_percent",
                "delivery.link_uses"
            ]
        );
        assert_eq!(c.prices("anna"), (0, u64::MAX));
        assert_eq!(c.prices("Bert"), (MAX_PRICE_MINOR + 1, 2000));
        let mut none = Vec::new();
        DeliveryConfig::default().validate(&mut |k, _| none.push(k.to_string()));
        assert!(none.is_empty(), "{none:?}");
    }
}
