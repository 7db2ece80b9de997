//! The delivery pages' words (galleries, orders, links), in the portal's languages.
//! The language is chosen as the portal chooses it (`web::portal::text::choose`).

/// Every string the delivery pages show, in one language.
pub struct Words {
    /// BCP 47 tag.
    pub lang: &'static str,
    /// The public gallery's title.
    pub gallery_title: &'static str,
    /// "My photos" title.
    pub mine_title: &'static str,
    /// Shown when a gallery has no photo (yet).
    pub empty: &'static str,
    /// Link to the next page.
    pub more: &'static str,
    /// Alt text of a thumb: "Photo by" + creator.
    pub photo_by: &'static str,
    /// Shown under a photo the attendee has in a confirmed order.
    pub yours: &'static str,
    /// "My photos" page without a pass.
    pub no_pass: &'static str,
    /// Link to the portal's start.
    pub start: &'static str,
}

/// English.
pub static EN: Words = Words {
    lang: "en",
    gallery_title: "Gallery",
    mine_title: "My photos",
    empty: "No photos here yet. New photos appear within a second of being taken.",
    more: "More photos",
    photo_by: "Photo by",
    yours: "Yours",
    no_pass: "This phone has no pass yet: get one first, then your photos appear here.",
    start: "Start",
};

/// German.
pub static DE: Words = Words {
    lang: "de",
    gallery_title: "Galerie",
    mine_title: "Meine Fotos",
    empty: "Hier sind noch keine Fotos. Neue Fotos erscheinen eine Sekunde nach der Aufnahme.",
    more: "Weitere Fotos",
    photo_by: "Foto von",
    yours: "Gehört Ihnen",
    no_pass: "Auf diesem Telefon gibt es noch keinen Pass: Holen Sie sich zuerst einen, dann erscheinen hier Ihre Fotos.",
    start: "Zum Anfang",
};

/// The words in the portal's language `lang` (English for any other).
pub fn for_lang(lang: &str) -> &'static Words {
    match lang {
        "de" => &DE,
        _ => &EN,
    }
}
