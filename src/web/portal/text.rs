//! The portal's words, in every language it speaks, and the choice among them from a
//! `?lang=` parameter, the phone's `Accept-Language`, or the event's default locale.

use crate::consent::Scope;

/// Every string the portal shows, in one language.
pub struct Texts {
    /// BCP 47 tag, for `<html lang>`.
    pub lang: &'static str,
    /// The language's own name, for the switcher.
    pub name: &'static str,
    pub welcome_title: &'static str,
    pub welcome_lead: &'static str,
    pub what_box_does: &'static str,
    pub choose: &'static str,
    pub nothing_ticked: &'static str,
    pub read_notice: &'static str,
    pub continue_with_choices: &'static str,
    pub decline: &'static str,
    pub decline_hint: &'static str,
    pub privacy_title: &'static str,
    pub pass_title: &'static str,
    pub pass_lead: &'static str,
    pub pass_code_label: &'static str,
    /// What the pass code does (tags photos, checks in).
    pub pass_does: &'static str,
    /// What the pass code does not do (open photos or records).
    pub pass_does_not: &'static str,
    pub online_note: &'static str,
    pub my_data: &'static str,
    pub my_data_title: &'static str,
    pub scope_on: &'static str,
    pub scope_off: &'static str,
    pub withdraw: &'static str,
    pub grant: &'static str,
    pub delete_title: &'static str,
    pub delete_lead: &'static str,
    pub delete_confirm: &'static str,
    pub delete_button: &'static str,
    pub deleted_title: &'static str,
    pub deleted_lead: &'static str,
    pub no_pass: &'static str,
    pub start: &'static str,
    pub back: &'static str,
    pub error_title: &'static str,
    pub error_form: &'static str,
    pub notice_version: &'static str,
}

impl Texts {
    /// The label and explanation of a scope.
    pub fn scope(&self, scope: Scope) -> (&'static str, &'static str) {
        match (self.lang, scope) {
            ("de", Scope::Gallery) => (
                "Öffentliche Galerie",
                "Fotos, auf denen ich zu sehen bin, dürfen in der Galerie dieser Veranstaltung gezeigt werden.",
            ),
            ("de", Scope::Receive) => (
                "Meine Fotos erhalten",
                "Die Fotografen dürfen mir meine Fotos über diese Box zukommen lassen.",
            ),
            ("de", Scope::Sync) => (
                "Cloud des Veranstalters",
                "Meine Fotos und Einwilligungen dürfen in den Cloud-Speicher des Veranstalters übertragen werden.",
            ),
            ("de", Scope::Marketing) => (
                "Werbung",
                "Der Veranstalter darf mich zu künftigen Veranstaltungen kontaktieren.",
            ),
            (_, Scope::Gallery) => (
                "Public gallery",
                "Photos of me may be shown in this event's gallery.",
            ),
            (_, Scope::Receive) => (
                "Receive my photos",
                "The photographers may send me my photos through this box.",
            ),
            (_, Scope::Sync) => (
                "Organiser's cloud",
                "My photos and consent records may be copied to the organiser's cloud storage.",
            ),
            (_, Scope::Marketing) => (
                "Marketing",
                "The organiser may contact me about future events.",
            ),
        }
    }

    /// The privacy notice, filled in with the organiser and contact. Its exact text is
    /// what each consent row's notice hash identifies.
    pub fn notice(&self, organiser: &str, contact: &str, retention_days: u64) -> String {
        match self.lang {
            "de" => format!(
                "Verantwortlich: {organiser}. Diese Box speichert Ihre Einwilligungen (welche Bereiche, \
                 wann, unter welcher Fassung dieses Hinweises) und zählt Ihre Anwesenheit unter einem \
                 Pseudonym. Ihre MAC- oder IP-Adresse, Ihr Name und Ihre Kontaktdaten werden nicht \
                 gespeichert. Nur was Sie erlauben, verlässt die Box. Sie können jede Einwilligung \
                 jederzeit unter „Meine Daten“ widerrufen und alle Einträge löschen. Einträge werden \
                 nach {retention_days} Tagen gelöscht. Fragen: {contact}."
            ),
            _ => format!(
                "Responsible for your data: {organiser}. This box records your consent (which scopes, \
                 when, under which version of this notice) and counts your attendance under a \
                 pseudonym. It does not store your MAC or IP address, your name or your contact \
                 details. Only what you allow leaves the box. You can withdraw any consent and \
                 delete all your records at any time under \"My data\". Records are deleted after \
                 {retention_days} days. Questions: {contact}."
            ),
        }
    }
}

/// English.
pub static EN: Texts = Texts {
    lang: "en",
    name: "English",
    welcome_title: "Welcome",
    welcome_lead: "You are on the photo box of",
    what_box_does:
        "Photographers here upload their pictures to this box. You can see photos of you, \
        get them sent to you, and decide what happens to them. Nothing is shared unless you say so.",
    choose: "What may we do? Tick what you agree to.",
    nothing_ticked: "Nothing is ticked for you. You can change your mind later.",
    read_notice: "Read the privacy notice",
    continue_with_choices: "Continue with my choices",
    decline: "Continue without agreeing to anything",
    decline_hint: "You still get a pass, and nothing about you is shared.",
    privacy_title: "Privacy notice",
    pass_title: "Your pass",
    pass_lead: "Show this code at the door or to a photographer.",
    pass_code_label: "Code to type",
    pass_does: "What it does: it checks you in at the door, and when a photographer photographs or types it, the photos they take next are marked as yours.",
    pass_does_not: "What it does not do: it does not open your photos, your choices or your records. Anyone who sees it can only tag photos to you or check you in.",
    online_note: "You can close this page now. Come back to it any time at",
    my_data: "My data",
    my_data_title: "My data",
    scope_on: "Agreed",
    scope_off: "Not agreed",
    withdraw: "Withdraw",
    grant: "Agree",
    delete_title: "Delete my records",
    delete_lead: "This deletes your pass, your consent and your attendance from this box.",
    delete_confirm: "Yes, delete everything about me",
    delete_button: "Delete my records",
    deleted_title: "Your records are deleted",
    deleted_lead: "Nothing about you is left on this box. Your pass no longer works.",
    no_pass: "You have no pass on this phone yet.",
    start: "Start",
    back: "Back",
    error_title: "Something was wrong",
    error_form: "This form has expired or was not sent from this page. Please try again.",
    notice_version: "Notice version",
};

/// German.
pub static DE: Texts = Texts {
    lang: "de",
    name: "Deutsch",
    welcome_title: "Willkommen",
    welcome_lead: "Sie sind bei der Fotobox von",
    what_box_does: "Die Fotografen hier laden ihre Bilder auf diese Box. Sie können Fotos von sich sehen, \
        sie sich schicken lassen und entscheiden, was mit ihnen geschieht. Ohne Ihre Zustimmung wird nichts geteilt.",
    choose: "Was dürfen wir? Kreuzen Sie an, womit Sie einverstanden sind.",
    nothing_ticked: "Nichts ist vorausgewählt. Sie können Ihre Wahl später ändern.",
    read_notice: "Datenschutzhinweis lesen",
    continue_with_choices: "Mit meiner Auswahl fortfahren",
    decline: "Ohne Zustimmung fortfahren",
    decline_hint: "Sie erhalten trotzdem einen Pass, und nichts über Sie wird geteilt.",
    privacy_title: "Datenschutzhinweis",
    pass_title: "Ihr Pass",
    pass_lead: "Zeigen Sie diesen Code am Eingang oder einem Fotografen.",
    pass_code_label: "Code zum Eintippen",
    pass_does: "Was er tut: Am Eingang checkt er Sie ein, und ein Fotograf, der ihn fotografiert oder eintippt, ordnet Ihnen die Fotos zu, die er danach von Ihnen macht.",
    pass_does_not: "Was er nicht tut: Er öffnet weder Ihre Fotos noch Ihre Auswahl oder Ihre Daten. Wer ihn sieht, kann Ihnen nur Fotos zuordnen oder Sie einchecken.",
    online_note: "Sie können diese Seite jetzt schließen. Sie finden sie jederzeit wieder unter",
    my_data: "Meine Daten",
    my_data_title: "Meine Daten",
    scope_on: "Zugestimmt",
    scope_off: "Nicht zugestimmt",
    withdraw: "Widerrufen",
    grant: "Zustimmen",
    delete_title: "Meine Einträge löschen",
    delete_lead: "Damit werden Ihr Pass, Ihre Einwilligungen und Ihre Anwesenheit von dieser Box gelöscht.",
    delete_confirm: "Ja, alles über mich löschen",
    delete_button: "Meine Einträge löschen",
    deleted_title: "Ihre Einträge sind gelöscht",
    deleted_lead: "Auf dieser Box ist nichts mehr über Sie gespeichert. Ihr Pass gilt nicht mehr.",
    no_pass: "Auf diesem Telefon gibt es noch keinen Pass.",
    start: "Zum Anfang",
    back: "Zurück",
    error_title: "Da stimmte etwas nicht",
    error_form: "Dieses Formular ist abgelaufen oder kam nicht von dieser Seite. Bitte versuchen Sie es erneut.",
    notice_version: "Fassung des Hinweises",
};

/// Every language, the default first.
pub static ALL: [&Texts; 2] = [&EN, &DE];

/// The texts for a language tag (`de`, `de-AT`), if the portal speaks it.
pub fn for_tag(tag: &str) -> Option<&'static Texts> {
    let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
    ALL.iter().copied().find(|t| t.lang == primary)
}

/// Chooses the language: an explicit `?lang=`, then the best `Accept-Language` entry the
/// portal speaks (by q-value, ties in order), then the event's locale, then English.
pub fn choose(
    explicit: Option<&str>,
    accept_language: Option<&str>,
    default: &str,
) -> &'static Texts {
    if let Some(t) = explicit.and_then(for_tag) {
        return t;
    }
    if let Some(header) = accept_language {
        let mut best: Option<(f32, &'static Texts)> = None;
        for item in header.split(',').take(20) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            if let Some(t) = for_tag(tag) {
                if best.map_or(true, |(bq, _)| q > bq) {
                    best = Some((q, t));
                }
            }
        }
        if let Some((_, t)) = best {
            return t;
        }
    }
    for_tag(default).unwrap_or(&EN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_choice() {
        assert_eq!(
            choose(None, Some("de-DE,de;q=0.9,en;q=0.8"), "en").lang,
            "de"
        );
        assert_eq!(
            choose(None, Some("fr-FR, en;q=0.5, de;q=0.7"), "en").lang,
            "de"
        );
        assert_eq!(choose(None, Some("fr-FR"), "de").lang, "de");
        assert_eq!(choose(None, Some("de;q=0"), "en").lang, "en");
        assert_eq!(choose(Some("en"), Some("de"), "de").lang, "en");
        assert_eq!(choose(Some("xx"), None, "en").lang, "en");
        assert_eq!(choose(None, None, "pt-BR").lang, "en");
    }
}
