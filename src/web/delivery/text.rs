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
    /// The public gallery on a phone without a pass (its thumbs are for pass holders).
    pub gallery_no_pass: &'static str,
    /// Link to the portal's start.
    pub start: &'static str,
    /// Button ordering the ticked photos.
    pub order_selected: &'static str,
    /// Button ordering a creator's bundle: + creator.
    pub order_bundle: &'static str,
    /// Says one order per creator.
    pub order_hint: &'static str,
    /// "My orders" title.
    pub orders_title: &'static str,
    /// Shown when the attendee has no order.
    pub no_orders: &'static str,
    /// Order states.
    pub pending: &'static str,
    pub paid: &'static str,
    pub free: &'static str,
    pub cancelled: &'static str,
    /// What to do with a pending order.
    pub pay_hint: &'static str,
    /// Title of an error page.
    pub error_title: &'static str,
    /// A form that is not ours, or names photos that are not the attendee's.
    pub error_form: &'static str,
    /// "photos", after a count.
    pub photos: &'static str,
    /// The link page's title.
    pub link_title: &'static str,
    /// Link text of one photo's download.
    pub download: &'static str,
    /// Link text of the whole order as one ZIP file, before its size.
    pub download_all: &'static str,
    /// What one download is, under the list: each photo, or the ZIP, spends one.
    pub uses_explained: &'static str,
    /// "downloads left", after a number.
    pub uses_left: &'static str,
    /// "valid until", before a UTC time.
    pub valid_until: &'static str,
    /// Link to the download page of a confirmed order.
    pub your_link: &'static str,
    /// The link cannot deliver, and why (by refusal).
    pub refused_title: &'static str,
    pub refused_tampered: &'static str,
    pub refused_expired: &'static str,
    pub refused_used_up: &'static str,
    pub refused_revoked: &'static str,
    pub refused_withdrawn: &'static str,
    pub refused_not_in_order: &'static str,
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
    gallery_no_pass: "The gallery opens once this phone has a pass. Get yours on the start page: it takes a few seconds.",
    start: "Start",
    order_selected: "Order the ticked photos",
    order_bundle: "All my photos by",
    order_hint: "Each photographer confirms their own order: a choice across photographers becomes one order each.",
    orders_title: "My orders",
    no_orders: "No orders yet.",
    pending: "Waiting for the photographer",
    paid: "Paid",
    free: "Free",
    cancelled: "Cancelled",
    pay_hint: "Show this code at the stall; the photographer confirms it on their terminal.",
    error_title: "Something was not right",
    error_form: "This form expired, did not come from this page, or names photos that are not yours. Please try again.",
    photos: "photos",
    link_title: "Your photos",
    download: "Download",
    download_all: "Download all as one ZIP file",
    uses_explained: "Each photo you download, or the ZIP file of all of them, uses one download.",
    uses_left: "downloads left",
    valid_until: "valid until",
    your_link: "Download your photos",
    refused_title: "This link does not work",
    refused_tampered: "This link is not one this photo box made, or it was changed. Please ask at the stall.",
    refused_expired: "This link has expired. Please ask at the stall for a new one.",
    refused_used_up: "Every download of this link has been used. Please ask at the stall for a new link.",
    refused_revoked: "This link was withdrawn by the photographer. Please ask at the stall.",
    refused_withdrawn: "The records this link belonged to were deleted, so it no longer opens anything.",
    refused_not_in_order: "That photo is not part of this order.",
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
    gallery_no_pass: "Die Galerie öffnet sich, sobald dieses Telefon einen Pass hat. Holen Sie ihn sich auf der Startseite: Das dauert nur Sekunden.",
    start: "Zum Anfang",
    order_selected: "Angekreuzte Fotos bestellen",
    order_bundle: "Alle meine Fotos von",
    order_hint: "Jede Fotografin und jeder Fotograf bestätigt die eigene Bestellung: Eine Auswahl über mehrere wird zu je einer Bestellung.",
    orders_title: "Meine Bestellungen",
    no_orders: "Noch keine Bestellungen.",
    pending: "Wartet auf die Fotografin oder den Fotografen",
    paid: "Bezahlt",
    free: "Kostenlos",
    cancelled: "Storniert",
    pay_hint: "Zeigen Sie diesen Code am Stand; dort wird die Bestellung am eigenen Terminal bestätigt.",
    error_title: "Da stimmte etwas nicht",
    error_form: "Dieses Formular ist abgelaufen, kam nicht von dieser Seite oder nennt Fotos, die nicht Ihre sind. Bitte versuchen Sie es erneut.",
    photos: "Fotos",
    link_title: "Ihre Fotos",
    download: "Herunterladen",
    download_all: "Alle als eine ZIP-Datei herunterladen",
    uses_explained: "Jedes heruntergeladene Foto, oder die ZIP-Datei mit allen, verbraucht einen Download.",
    uses_left: "Downloads übrig",
    valid_until: "gültig bis",
    your_link: "Ihre Fotos herunterladen",
    refused_title: "Dieser Link funktioniert nicht",
    refused_tampered: "Dieser Link stammt nicht von dieser Fotobox oder wurde verändert. Bitte fragen Sie am Stand.",
    refused_expired: "Dieser Link ist abgelaufen. Bitte fragen Sie am Stand nach einem neuen.",
    refused_used_up: "Alle Downloads dieses Links sind aufgebraucht. Bitte fragen Sie am Stand nach einem neuen Link.",
    refused_revoked: "Dieser Link wurde vom Fotografen zurückgezogen. Bitte fragen Sie am Stand.",
    refused_withdrawn: "Die Daten, zu denen dieser Link gehörte, wurden gelöscht; er öffnet nichts mehr.",
    refused_not_in_order: "Dieses Foto gehört nicht zu dieser Bestellung.",
};

/// The words in the portal's language `lang` (English for any other).
pub fn for_lang(lang: &str) -> &'static Words {
    match lang {
        "de" => &DE,
        _ => &EN,
    }
}
