//! Who may see what: the one view policy every serving route asks (issue 14, item 1).
//! Pure: a viewer, the facts about one photo that matter to that viewer, a derivative,
//! and whether the request presents a valid download link naming the photo, in; a
//! yes or no out. No I/O: the facts are read by [`crate::delivery::reads::facts`].
//!
//! The rule, in the product's words:
//! - an admin sees everything;
//! - a creator sees their own photos in every derivative, nobody else's;
//! - an attendee sees the thumb and the watermarked preview of a photo in a gallery
//!   they may see (the public gallery, or their own photos), the unwatermarked preview
//!   of a photo of a confirmed order of theirs (the progressive reveal), and the full
//!   photo only through a valid link;
//! - anybody presenting a valid link gets the photos of that link's order (the full
//!   photo, its preview and thumb), and nothing else;
//! - a pass frame (a photo of an attendee's pass) is shown to no attendee;
//! - everyone else: nothing.
//!
//! Format (JPEG or WebP), size and Range do not change the answer: they are ways of
//! fetching a derivative, and the derivative is what is decided.

use crate::derivatives::Derivative;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// A logged-in admin (session cookie or bearer token).
    Admin,
    /// A creator, by id (their upload token as `Authorization: Bearer`).
    Creator(i64),
    /// An attendee, by pass id (the portal's pass cookie).
    Attendee(String),
    /// No credentials.
    Anonymous,
}

/// What the policy needs to know about one photo, as seen by one viewer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhotoFacts {
    /// The creator the photo belongs to.
    pub creator_id: i64,
    /// The photo is an attendee's pass photographed for tagging: in no gallery.
    pub pass_frame: bool,
    /// The photo is in the public gallery now (marked public, and every tagged
    /// attendee consents to `gallery`).
    pub public: bool,
    /// The photo is tagged to the viewing attendee.
    pub tagged_to_viewer: bool,
    /// The photo is in a confirmed (paid or free) order of the viewing attendee.
    pub confirmed_for_viewer: bool,
}

/// May this viewer ask for this derivative of some photo at all? Decided before the
/// photo is looked up, so an id that exists and one that does not get the same answer
/// (issue 13: no existence oracle). `link` is true when the request presents a valid
/// link (which names its photos itself).
pub fn may_ask(viewer: &Viewer, derivative: Derivative, link: bool) -> bool {
    match viewer {
        Viewer::Admin | Viewer::Creator(_) => true,
        Viewer::Attendee(_) => true,
        Viewer::Anonymous => link && derivative != Derivative::Watermarked,
    }
}

/// May this viewer see this derivative of the photo these facts describe? `link` is
/// true when the request presents a valid (signed, unexpired, unrevoked, not used up)
/// link of a confirmed order that contains this photo. A refusal must answer exactly
/// as for a photo that does not exist.
pub fn may_view(viewer: &Viewer, facts: &PhotoFacts, derivative: Derivative, link: bool) -> bool {
    if link && derivative != Derivative::Watermarked {
        return true;
    }
    match viewer {
        Viewer::Admin => true,
        Viewer::Creator(id) => *id == facts.creator_id,
        Viewer::Attendee(_) => {
            if facts.pass_frame {
                return false;
            }
            let in_a_gallery = facts.public || facts.tagged_to_viewer;
            match derivative {
                Derivative::Thumb | Derivative::Watermarked => {
                    in_a_gallery || facts.confirmed_for_viewer
                }
                Derivative::Preview => facts.confirmed_for_viewer,
                // The full photo leaves only through a link, which counts its uses.
                Derivative::Full => false,
            }
        }
        Viewer::Anonymous => false,
    }
}

/// May this viewer see the instant preview of an upload still arriving, made by
/// `uploader`? The upload's own creator and the admin only: the instant preview is an
/// unwatermarked image (the camera's embedded preview, as large as the camera made it),
/// so no attendee ever gets one, not even as a stand-in for a thumb not yet rendered.
pub fn may_view_upload(viewer: &Viewer, uploader: i64) -> bool {
    match viewer {
        Viewer::Admin => true,
        Viewer::Creator(id) => *id == uploader,
        Viewer::Attendee(_) | Viewer::Anonymous => false,
    }
}

/// May the instant preview stand in for a derivative not rendered yet, for this
/// viewer? Only for staff (see [`may_view_upload`]).
pub fn may_see_instant(viewer: &Viewer) -> bool {
    matches!(viewer, Viewer::Admin | Viewer::Creator(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Derivative::*;

    const ALL: [Derivative; 4] = [Thumb, Preview, Watermarked, Full];

    fn attendee() -> Viewer {
        Viewer::Attendee("a".into())
    }

    #[test]
    fn admin_sees_all_and_creator_only_their_own() {
        let facts = PhotoFacts {
            creator_id: 7,
            ..Default::default()
        };
        for d in ALL {
            assert!(may_view(&Viewer::Admin, &facts, d, false));
            assert!(may_view(&Viewer::Creator(7), &facts, d, false));
            assert!(!may_view(&Viewer::Creator(8), &facts, d, false));
        }
    }

    #[test]
    fn attendees_see_watermarked_and_thumb_of_gallery_photos_only() {
        for (public, tagged) in [(true, false), (false, true), (true, true)] {
            let facts = PhotoFacts {
                public,
                tagged_to_viewer: tagged,
                ..Default::default()
            };
            assert!(may_view(&attendee(), &facts, Thumb, false));
            assert!(may_view(&attendee(), &facts, Watermarked, false));
            assert!(!may_view(&attendee(), &facts, Preview, false));
            assert!(!may_view(&attendee(), &facts, Full, false));
        }
        let elsewhere = PhotoFacts::default();
        for d in ALL {
            assert!(!may_view(&attendee(), &elsewhere, d, false));
            assert!(!may_view(&Viewer::Anonymous, &elsewhere, d, false));
        }
    }

    #[test]
    fn confirmation_reveals_the_preview_and_only_a_link_the_full_photo() {
        let facts = PhotoFacts {
            tagged_to_viewer: true,
            confirmed_for_viewer: true,
            ..Default::default()
        };
        assert!(may_view(&attendee(), &facts, Preview, false));
        assert!(!may_view(&attendee(), &facts, Full, false));
        assert!(may_view(&attendee(), &facts, Full, true));
        assert!(may_view(
            &Viewer::Anonymous,
            &PhotoFacts::default(),
            Full,
            true
        ));
        // A link shows its photos' thumbs on any device, never the watermarked copy.
        assert!(may_view(
            &Viewer::Anonymous,
            &PhotoFacts::default(),
            Thumb,
            true
        ));
        assert!(!may_view(
            &Viewer::Anonymous,
            &PhotoFacts::default(),
            Watermarked,
            true
        ));
    }

    #[test]
    fn pass_frames_are_shown_to_no_attendee() {
        let facts = PhotoFacts {
            pass_frame: true,
            public: true,
            tagged_to_viewer: true,
            ..Default::default()
        };
        for d in ALL {
            assert!(!may_view(&attendee(), &facts, d, false));
        }
    }

    #[test]
    fn asking_is_decided_before_lookup() {
        for d in ALL {
            assert!(!may_ask(&Viewer::Anonymous, d, false));
        }
        assert!(may_ask(&Viewer::Anonymous, Full, true));
        assert!(!may_see_instant(&attendee()));
        assert!(!may_view_upload(&attendee(), 1));
        assert!(may_view_upload(&Viewer::Creator(1), 1));
        assert!(!may_view_upload(&Viewer::Creator(2), 1));
    }
}
