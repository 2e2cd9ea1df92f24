//! The pages' words, in English and French (the seed policy's language). One table per
//! language, so that a missing translation is a compile error, not an English fallback.
//! `{minutes}` and `{tries}` are filled in from the deployment's `[portal]` settings.

use gdpr_app::Lang;
use gdpr_rights::RequestKind;

/// Every text the portal shows.
pub(crate) struct Words {
    pub(crate) title: &'static str,
    pub(crate) intro: &'static str,
    pub(crate) what: &'static str,
    pub(crate) email: &'static str,
    pub(crate) email_hint: &'static str,
    pub(crate) send_code: &'static str,
    pub(crate) code_title: &'static str,
    pub(crate) code_sent: &'static str,
    pub(crate) code: &'static str,
    pub(crate) code_hint: &'static str,
    pub(crate) confirm: &'static str,
    pub(crate) opened_title: &'static str,
    pub(crate) opened_reference: &'static str,
    pub(crate) opened_due: &'static str,
    pub(crate) nothing_title: &'static str,
    pub(crate) nothing_held: &'static str,
    pub(crate) wrong_code: &'static str,
    pub(crate) code_gone: &'static str,
    pub(crate) already: &'static str,
    pub(crate) bad_email: &'static str,
    pub(crate) bad_kind: &'static str,
    pub(crate) too_many: &'static str,
    pub(crate) unavailable: &'static str,
    pub(crate) not_found: &'static str,
    pub(crate) start_again: &'static str,
    pub(crate) other_language: &'static str,
    pub(crate) error_title: &'static str,
    pub(crate) cross_site: &'static str,
}

const EN: Words = Words {
    title: "Your personal data",
    intro: "Ask this organisation to act on the personal data it may hold about you. We \
            send a code to your e-mail address to check that it is yours; nothing happens \
            until you give it back.",
    what: "What do you ask for?",
    email: "Your e-mail address",
    email_hint: "The address the organisation knows you by.",
    send_code: "Send me a code",
    code_title: "Check your e-mail",
    code_sent: "If this address can receive e-mail, an eight-digit code is on its way. Enter \
                it here within {minutes} minutes.",
    code: "Code",
    code_hint: "Eight digits, from the e-mail we sent.",
    confirm: "Confirm my request",
    opened_title: "Your request is registered",
    opened_reference: "Reference",
    opened_due: "The organisation answers by",
    nothing_title: "No personal data held",
    nothing_held: "This organisation holds no personal data about this address. The search \
                   and its result are kept as evidence of your request.",
    wrong_code: "This is not the code we sent. After {tries} wrong tries, ask for a new code.",
    code_gone: "This code no longer works (it expired, or was tried too many times).",
    already: "This request was confirmed already: a code works once.",
    bad_email: "Enter an e-mail address, such as name@example.org.",
    bad_kind: "Choose what you ask for.",
    too_many: "Too many codes were asked for. Try again later.",
    unavailable: "The code could not be sent just now. Try again in a few minutes.",
    not_found: "There is no such page.",
    start_again: "Start again",
    other_language: "Français",
    error_title: "Something is wrong",
    cross_site: "This form can only be sent from this organisation's own page.",
};

const FR: Words = Words {
    title: "Vos données personnelles",
    intro: "Demandez à cet organisme d'agir sur les données personnelles qu'il détient \
            peut-être sur vous. Nous envoyons un code à votre adresse e-mail pour vérifier \
            qu'elle est la vôtre ; rien ne se passe tant que vous ne l'avez pas saisi.",
    what: "Que demandez-vous ?",
    email: "Votre adresse e-mail",
    email_hint: "L'adresse sous laquelle l'organisme vous connaît.",
    send_code: "M'envoyer un code",
    code_title: "Consultez vos e-mails",
    code_sent: "Si cette adresse peut recevoir des e-mails, un code à huit chiffres est en \
                route. Saisissez-le ici dans les {minutes} minutes.",
    code: "Code",
    code_hint: "Huit chiffres, reçus par e-mail.",
    confirm: "Confirmer ma demande",
    opened_title: "Votre demande est enregistrée",
    opened_reference: "Référence",
    opened_due: "L'organisme vous répond au plus tard le",
    nothing_title: "Aucune donnée personnelle détenue",
    nothing_held: "Cet organisme ne détient aucune donnée personnelle liée à cette adresse. \
                   La recherche et son résultat sont conservés comme preuve de votre demande.",
    wrong_code: "Ce n'est pas le code envoyé. Après {tries} essais erronés, demandez un \
                 nouveau code.",
    code_gone: "Ce code ne fonctionne plus (il a expiré, ou a été essayé trop de fois).",
    already: "Cette demande est déjà confirmée : un code ne sert qu'une fois.",
    bad_email: "Saisissez une adresse e-mail, par exemple nom@exemple.fr.",
    bad_kind: "Choisissez ce que vous demandez.",
    too_many: "Trop de codes ont été demandés. Réessayez plus tard.",
    unavailable: "Le code n'a pas pu être envoyé pour l'instant. Réessayez dans quelques \
                  minutes.",
    not_found: "Cette page n'existe pas.",
    start_again: "Recommencer",
    other_language: "English",
    error_title: "Un problème est survenu",
    cross_site: "Ce formulaire ne peut être envoyé que depuis la page de cet organisme.",
};

/// The words of `lang`.
pub(crate) const fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// The rights a person may ask for on the portal, in the order the GDPR gives them, with
/// their form value, label and a line on what it means.
pub(crate) fn rights(lang: Lang) -> [(RequestKind, &'static str, &'static str, &'static str); 6] {
    use RequestKind as K;
    match lang {
        Lang::En => [
            (
                K::Access,
                "access",
                "Access",
                "A copy of the personal data held about you (Art. 15).",
            ),
            (
                K::Rectification,
                "rectification",
                "Rectification",
                "Correct data about you that is wrong (Art. 16).",
            ),
            (
                K::Erasure,
                "erasure",
                "Erasure",
                "Delete the personal data held about you (Art. 17).",
            ),
            (
                K::Restriction,
                "restriction",
                "Restriction",
                "Keep your data but stop using it for now (Art. 18).",
            ),
            (
                K::Portability,
                "portability",
                "Portability",
                "Your data in a machine-readable file (Art. 20).",
            ),
            (
                K::Objection,
                "objection",
                "Objection",
                "Stop processing based on legitimate interests (Art. 21).",
            ),
        ],
        Lang::Fr => [
            (
                K::Access,
                "access",
                "Accès",
                "Une copie des données personnelles détenues sur vous (art. 15).",
            ),
            (
                K::Rectification,
                "rectification",
                "Rectification",
                "Corriger des données inexactes vous concernant (art. 16).",
            ),
            (
                K::Erasure,
                "erasure",
                "Effacement",
                "Supprimer les données personnelles détenues sur vous (art. 17).",
            ),
            (
                K::Restriction,
                "restriction",
                "Limitation",
                "Conserver vos données sans les utiliser pour l'instant (art. 18).",
            ),
            (
                K::Portability,
                "portability",
                "Portabilité",
                "Vos données dans un fichier lisible par machine (art. 20).",
            ),
            (
                K::Objection,
                "objection",
                "Opposition",
                "Cesser un traitement fondé sur l'intérêt légitime (art. 21).",
            ),
        ],
    }
}
