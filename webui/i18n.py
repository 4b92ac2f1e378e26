"""The UI's own words in English and French (the UI issue moves this to Flask-Babel)."""

from __future__ import annotations

LANGUAGES = ["en", "fr"]

MESSAGES: dict[str, dict[str, str]] = {
    "app_name": {"en": "Savoir", "fr": "Savoir"},
    "tagline": {
        "en": "Search what every agency knows, in English and French",
        "fr": "Cherchez ce que savent toutes les agences, en français et en anglais",
    },
    "skip": {"en": "Skip to results", "fr": "Passer aux résultats"},
    "search_label": {"en": "Search all agencies", "fr": "Rechercher dans toutes les agences"},
    "search_button": {"en": "Search", "fr": "Rechercher"},
    "results_count": {"en": "{n} results", "fr": "{n} résultats"},
    "no_results": {
        "en": "No documents match. Try fewer or other words, or the other official language.",
        "fr": "Aucun document ne correspond. Essayez moins de mots, d'autres mots ou l'autre langue officielle.",
    },
    "refine": {"en": "Refine", "fr": "Affiner"},
    "facet_agency": {"en": "Agency", "fr": "Agence"},
    "facet_source": {"en": "Source", "fr": "Source"},
    "facet_kind": {"en": "Type", "fr": "Type"},
    "facet_lang": {"en": "Language", "fr": "Langue"},
    "facet_year": {"en": "Year", "fr": "Année"},
    "facet_communities": {"en": "Community", "fr": "Communauté"},
    "relaxed": {
        "en": "Few documents have all the words: these have some of them, those with the most words first.",
        "fr": "Peu de documents contiennent tous les mots : voici ceux qui en contiennent une partie,"
        " les plus complets d’abord.",
    },
    "did_you_mean": {"en": "Did you mean", "fr": "Vouliez-vous dire"},
    "sort_relevance": {"en": "Most relevant", "fr": "Pertinence"},
    "sort_date": {"en": "Newest", "fr": "Plus récents"},
    "sort_by": {"en": "Sort by", "fr": "Trier par"},
    "by": {"en": "by", "fr": "par"},
    "previous": {"en": "Previous", "fr": "Précédent"},
    "next": {"en": "Next", "fr": "Suivant"},
    "page_of": {"en": "Page {page} of {pages}", "fr": "Page {page} de {pages}"},
    "other_version": {"en": "Version in {lang}", "fr": "Version en {lang}"},
    "lang_en": {"en": "English", "fr": "anglais"},
    "lang_fr": {"en": "French", "fr": "français"},
    "lang_und": {"en": "Undetermined", "fr": "Indéterminée"},
    # document kinds (a kind without an entry here shows as the source wrote it)
    "kind_page": {"en": "Page", "fr": "Page"},
    "kind_post": {"en": "Blog post", "fr": "Billet"},
    "kind_news": {"en": "News", "fr": "Nouvelle"},
    "kind_file": {"en": "File", "fr": "Fichier"},
    "kind_comment": {"en": "Comment", "fr": "Commentaire"},
    "document": {"en": "Document", "fr": "Document"},
    "open_source": {"en": "Open it where it lives", "fr": "L'ouvrir à sa source"},
    "contributors": {"en": "Contributors", "fr": "Contributeurs"},
    "created": {"en": "Created", "fr": "Créé"},
    "modified": {"en": "Last modified", "fr": "Dernière modification"},
    "source": {"en": "Source", "fr": "Source"},
    "details": {"en": "details", "fr": "détails"},
    "switch_lang": {"en": "Français", "fr": "English"},
    "clear_filters": {"en": "Clear filters", "fr": "Effacer les filtres"},
    "documents_indexed": {"en": "{n} documents from {s} sources", "fr": "{n} documents de {s} sources"},
    "took": {"en": "{ms} ms", "fr": "{ms} ms"},
    "experts": {"en": "Who knows about this", "fr": "Qui s'y connaît"},
    "experts_none": {
        "en": "No one stands out yet for this query.",
        "fr": "Personne ne se démarque encore pour cette recherche.",
    },
    "role_author": {"en": "wrote {n}", "fr": "a rédigé {n}"},
    "role_editor": {"en": "edited {n}", "fr": "a modifié {n}"},
    "role_commenter": {"en": "commented on {n}", "fr": "a commenté {n}"},
    "evidence": {"en": "Why", "fr": "Pourquoi"},
    "did_author": {"en": "wrote", "fr": "a rédigé"},
    "did_editor": {"en": "edited", "fr": "a modifié"},
    "did_commenter": {"en": "commented", "fr": "a commenté"},
    "evidence_more": {
        "en": "and {n} more documents",
        "fr": "et {n} autres documents",
    },
    "evidence_matched": {
        "en": "matches \u201c{words}\u201d",
        "fr": "contient \u00ab\u00a0{words}\u00a0\u00bb",
    },
    "agency_from_email": {"en": "from their email address", "fr": "d'après leur adresse courriel"},
    "agency_from_directory": {"en": "from the people directory", "fr": "d'après le répertoire"},
    "agency_from_source": {"en": "where they write", "fr": "là où la personne écrit"},
    "last_active": {"en": "last wrote on {date}", "fr": "dernière contribution le {date}"},
    "writes_in": {"en": "writes in", "fr": "écrit en"},
    "communities": {"en": "Communities of practice", "fr": "Communautés de pratique"},
    "peers": {"en": "Peers across agencies", "fr": "Collègues de toutes les agences"},
    "recent_documents": {"en": "Recent documents", "fr": "Documents récents"},
    "recent_contributions": {"en": "Recent contributions", "fr": "Contributions récentes"},
    "topics": {"en": "Writes about", "fr": "Écrit sur"},
    "languages": {"en": "Languages", "fr": "Langues"},
    "contact": {"en": "Contact", "fr": "Coordonnées"},
    "agency": {"en": "Agency", "fr": "Agence"},
    "no_documents": {"en": "Nothing to show yet.", "fr": "Rien à afficher pour l'instant."},
    "partial": {
        "en": "This search reached its limits ({limits}): these are the results found so far.",
        "fr": "Cette recherche a atteint ses limites ({limits}) : voici les résultats trouvés jusque-là.",
    },
    "limit_time": {"en": "time", "fr": "temps"},
    "limit_terms": {"en": "too many words to expand", "fr": "trop de mots à développer"},
    "limit_suggestion": {"en": "spelling suggestions", "fr": "suggestions d'orthographe"},
    "limit_words": {
        "en": "only the first words were searched",
        "fr": "seuls les premiers mots ont été cherchés",
    },
    "error_title": {"en": "Something is not right", "fr": "Quelque chose ne va pas"},
    "error_home": {"en": "Back to the search page", "fr": "Retour à la page de recherche"},
    "error_403": {
        "en": "This page is for administrators.",
        "fr": "Cette page est réservée aux administrateurs.",
    },
    "error_csrf": {
        "en": "This form has expired or did not come from this site. Go back, reload the page and try again.",
        "fr": "Ce formulaire a expiré ou ne vient pas de ce site. Revenez en arrière, rechargez la page et réessayez.",
    },
    "sign_in": {"en": "Sign in", "fr": "Se connecter"},
    "sign_out": {"en": "Sign out", "fr": "Se déconnecter"},
    "signed_in_as": {"en": "Signed in as {name}", "fr": "Connecté : {name}"},
    "username": {"en": "User name", "fr": "Nom d'utilisateur"},
    "password": {"en": "Password", "fr": "Mot de passe"},
    "signin_failed": {
        "en": "The user name or password is not right, or the account is locked for now.",
        "fr": "Le nom d'utilisateur ou le mot de passe est inexact, ou le compte est verrouillé pour l'instant.",
    },
    "signin_throttled": {
        "en": "Too many attempts from your address: wait a minute, then try again.",
        "fr": "Trop de tentatives depuis votre adresse : attendez une minute, puis réessayez.",
    },
    "audit_log": {"en": "Audit log", "fr": "Journal d'audit"},
    "audit_time": {"en": "When", "fr": "Quand"},
    "audit_actor": {"en": "Who", "fr": "Qui"},
    "audit_action": {"en": "What", "fr": "Quoi"},
    "audit_target": {"en": "On", "fr": "Sur"},
    "audit_address": {"en": "From", "fr": "Depuis"},
    "audit_detail": {"en": "Details", "fr": "Détails"},
    "opt_out_self": {
        "en": "Hide me from expert suggestions and remove this page",
        "fr": "Me retirer des suggestions d'experts et supprimer cette page",
    },
    "error_404": {
        "en": "There is no page at this address.",
        "fr": "Il n'y a aucune page à cette adresse.",
    },
    "error_405": {
        "en": "This page does not accept that kind of request.",
        "fr": "Cette page n'accepte pas ce type de requête.",
    },
    "error_500": {
        "en": "Savoir could not answer this request. Try again; if it keeps failing, tell the administrators.",
        "fr": "Savoir n'a pas pu répondre à cette requête. Réessayez ; si l'erreur persiste, prévenez les administrateurs.",
    },
    "error_other": {
        "en": "This request cannot be answered.",
        "fr": "Cette requête ne peut pas recevoir de réponse.",
    },
    "param_int": {
        "en": "The parameter “{name}” must be a whole number from {low} to {high}.",
        "fr": "Le paramètre « {name} » doit être un nombre entier de {low} à {high}.",
    },
    "param_long": {
        "en": "The parameter “{name}” is too long: use at most {n} characters.",
        "fr": "Le paramètre « {name} » est trop long : {n} caractères au plus.",
    },
    "param_control": {
        "en": "The parameter “{name}” contains a NUL character: remove it.",
        "fr": "Le paramètre « {name} » contient un caractère NUL : retirez-le.",
    },
    "param_choice": {
        "en": "The parameter “{name}” must be one of: {choices}.",
        "fr": "Le paramètre « {name} » doit valoir l'une de ces valeurs : {choices}.",
    },
    "param_pattern": {
        "en": "The parameter “{name}” is not written as expected (for example {hint}).",
        "fr": "Le paramètre « {name} » n'est pas écrit comme prévu (par exemple {hint}).",
    },
    "param_many": {
        "en": "The parameter “{name}” is given too many times: at most {n}.",
        "fr": "Le paramètre « {name} » est donné trop de fois : {n} au plus.",
    },
    "param_once": {
        "en": "Give the parameter “{name}” only once.",
        "fr": "Donnez le paramètre « {name} » une seule fois.",
    },
    "param_required": {
        "en": "Give the parameter “{name}” ({hint}).",
        "fr": "Donnez le paramètre « {name} » ({hint}).",
    },
    "feed_title": {"en": "Savoir: {q}", "fr": "Savoir : {q}"},
    "opensearch_description": {
        "en": "Search what every agency knows, in English and French",
        "fr": "Cherchez ce que savent toutes les agences, en français et en anglais",
    },
}


def translate(ui_lang: str, key: str, /, **values: object) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(ui_lang) or entry["en"]
    return text.format(**values) if values else text
