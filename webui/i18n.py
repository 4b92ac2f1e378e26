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
    "communities": {"en": "Communities of practice", "fr": "Communautés de pratique"},
    "peers": {"en": "Peers across agencies", "fr": "Collègues de toutes les agences"},
    "recent_documents": {"en": "Recent documents", "fr": "Documents récents"},
    "recent_contributions": {"en": "Recent contributions", "fr": "Contributions récentes"},
    "topics": {"en": "Writes about", "fr": "Écrit sur"},
    "languages": {"en": "Languages", "fr": "Langues"},
    "contact": {"en": "Contact", "fr": "Coordonnées"},
    "agency": {"en": "Agency", "fr": "Agence"},
    "no_documents": {"en": "Nothing to show yet.", "fr": "Rien à afficher pour l'instant."},
}


def translate(ui_lang: str, key: str, /, **values: object) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(ui_lang) or entry["en"]
    return text.format(**values) if values else text
