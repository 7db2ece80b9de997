//! Delivery: how an attendee gets their photos at the stall, offline (issue 14,
//! ../shared/MISSION.md "Delivery"): which viewer may see which derivative of which
//! photo, the galleries, tagging photos to attendees, orders the vendor confirms, and
//! expiring, signed, counted download links.
//!
//! An engine: it uses the domain modules (ingest, derivatives, consent, creators) and
//! the foundation, never `sync` (which reads the `delivery_*` tables through
//! `sync::reads`) nor an edge. Owns every `delivery_*` table.

pub mod reads;
pub mod tagging;
pub mod zip;
