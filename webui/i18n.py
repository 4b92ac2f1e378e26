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
    "error_429": {
        "en": "Too many requests from your address: wait a minute, then try again.",
        "fr": "Trop de requêtes depuis votre adresse : attendez une minute, puis réessayez.",
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


# -- admin console (webui/admin_views.py, templates/admin/) -------------------------
# Kept in one block so that a move to Flask-Babel can take it whole.
ADMIN_MESSAGES: dict[str, dict[str, str]] = {
    "admin_console": {"en": "Admin console", "fr": "Console d'administration"},
    "admin_sources": {"en": "Sources", "fr": "Sources"},
    "admin_people": {"en": "People directory", "fr": "Répertoire des personnes"},
    "admin_precedence": {
        "en": "Sources come from {file} and from this console. What you change here is kept in the "
        "database and wins over the file, field by field; the other fields still follow the file. "
        "“Forget the console's changes” goes back to the file.",
        "fr": "Les sources viennent de {file} et de cette console. Ce que vous changez ici est gardé "
        "dans la base de données et l'emporte sur le fichier, champ par champ ; les autres champs suivent "
        "toujours le fichier. « Oublier les changements de la console » revient au fichier.",
    },
    "admin_add": {"en": "Add a source", "fr": "Ajouter une source"},
    "admin_add_title": {"en": "Add a {kind} source", "fr": "Ajouter une source {kind}"},
    "admin_edit_title": {"en": "Edit the source {id}", "fr": "Modifier la source {id}"},
    "admin_choose_kind": {
        "en": "What kind of source is it? The form then asks for what that kind needs.",
        "fr": "De quel type de source s'agit-il ? Le formulaire demande ensuite ce qu'il faut pour ce type.",
    },
    "admin_defined_file": {"en": "defined in the sources file", "fr": "définie dans le fichier des sources"},
    "admin_defined_file_named": {"en": "defined in {file}", "fr": "définie dans {file}"},
    "admin_defined_console": {"en": "added in the console", "fr": "ajoutée dans la console"},
    "admin_overrides": {
        "en": "The console overrides: {fields}.",
        "fr": "La console remplace : {fields}.",
    },
    "admin_kind": {"en": "Kind", "fr": "Type"},
    "admin_state": {"en": "State", "fr": "État"},
    "admin_enabled": {"en": "enabled", "fr": "activée"},
    "admin_disabled": {"en": "disabled", "fr": "désactivée"},
    "admin_documents": {"en": "Documents", "fr": "Documents"},
    "admin_last_run": {"en": "Last run", "fr": "Dernière exécution"},
    "admin_never_run": {"en": "never run", "fr": "jamais exécutée"},
    "admin_run_counts": {
        "en": "{fetched} fetched, {added} added, {updated} updated, {deleted} deleted, {failed} failed",
        "fr": "{fetched} lus, {added} ajoutés, {updated} mis à jour, {deleted} supprimés, {failed} en échec",
    },
    "admin_next_run": {"en": "Next run", "fr": "Prochaine exécution"},
    "admin_next_manual": {
        "en": "on request only (no schedule)",
        "fr": "sur demande seulement (aucun horaire)",
    },
    "admin_next_disabled": {"en": "none (disabled)", "fr": "aucune (désactivée)"},
    "admin_run_queued": {"en": "a run is queued", "fr": "une exécution est en attente"},
    "admin_run_now": {"en": "Run now", "fr": "Exécuter maintenant"},
    "admin_check": {"en": "Test connection", "fr": "Tester la connexion"},
    "admin_enable": {"en": "Enable", "fr": "Activer"},
    "admin_disable": {"en": "Disable", "fr": "Désactiver"},
    "admin_save_schedule": {"en": "Save schedule", "fr": "Enregistrer l'horaire"},
    "admin_edit": {"en": "Edit", "fr": "Modifier"},
    "admin_history": {"en": "Run history", "fr": "Historique des exécutions"},
    "admin_revert": {"en": "Forget the console's changes", "fr": "Oublier les changements de la console"},
    "admin_remove": {"en": "Remove this source", "fr": "Retirer cette source"},
    "admin_no_sources": {"en": "No source yet.", "fr": "Aucune source pour l'instant."},
    "admin_saved": {"en": "Saved.", "fr": "Enregistré."},
    "admin_queued": {
        "en": "Run queued: the worker starts it within seconds.",
        "fr": "Exécution mise en file : le travailleur la lance dans quelques secondes.",
    },
    "admin_reverted": {
        "en": "The console's changes are forgotten: the source follows the file again.",
        "fr": "Les changements de la console sont oubliés : la source suit de nouveau le fichier.",
    },
    "admin_removed": {
        "en": "Source removed (its documents stay in the index until a full run or a rebuild).",
        "fr": "Source retirée (ses documents restent dans l'index jusqu'à une exécution complète ou une reconstruction).",
    },
    "admin_reindex": {"en": "Search index", "fr": "Index de recherche"},
    "admin_reindex_help": {
        "en": "Rebuild the index from the database, without reading any source. It runs in the "
        "background; searches keep answering from the old index until the new one is ready.",
        "fr": "Reconstruire l'index à partir de la base de données, sans relire aucune source. "
        "La reconstruction se fait en arrière-plan ; les recherches utilisent l'ancien index jusqu'à ce "
        "que le nouveau soit prêt.",
    },
    "admin_reindex_button": {"en": "Rebuild the index", "fr": "Reconstruire l'index"},
    "admin_reindex_running": {
        "en": "Rebuild running since {started} (asked by {by}).",
        "fr": "Reconstruction en cours depuis {started} (demandée par {by}).",
    },
    "admin_reindex_done": {
        "en": "Last rebuild: {documents} documents, finished {finished} (asked by {by}).",
        "fr": "Dernière reconstruction : {documents} documents, terminée {finished} (demandée par {by}).",
    },
    "admin_reindex_failed": {
        "en": "The last rebuild failed at {finished} (asked by {by})",
        "fr": "La dernière reconstruction a échoué à {finished} (demandée par {by})",
    },
    "admin_reindex_started": {
        "en": "Rebuild started in the background.",
        "fr": "Reconstruction lancée en arrière-plan.",
    },
    "admin_reindex_busy": {
        "en": "A rebuild is already running.",
        "fr": "Une reconstruction est déjà en cours.",
    },
    "admin_form_refused": {
        "en": "The source was not saved: correct what is said below.",
        "fr": "La source n'a pas été enregistrée : corrigez ce qui est indiqué ci-dessous.",
    },
    "admin_source_fields": {"en": "The source", "fr": "La source"},
    "admin_connector_fields": {
        "en": "Settings of the {kind} connector",
        "fr": "Paramètres du connecteur {kind}",
    },
    "admin_required": {"en": "required", "fr": "obligatoire"},
    "admin_secret_kept": {
        "en": "A value is stored; it is never shown. Leave this empty to keep it.",
        "fr": "Une valeur est enregistrée ; elle n'est jamais affichée. Laissez ce champ vide pour la garder.",
    },
    "admin_save": {"en": "Save", "fr": "Enregistrer"},
    "admin_cancel": {"en": "Cancel", "fr": "Annuler"},
    "admin_back": {"en": "Back to the sources", "fr": "Retour aux sources"},
    "admin_back_history": {"en": "Back to the run history", "fr": "Retour à l'historique"},
    "admin_field_id": {"en": "Identifier", "fr": "Identifiant"},
    "admin_field_id_help": {
        "en": "Letters, digits, '-' and '_' (at most 64). It is part of every document's id: it cannot change later.",
        "fr": "Lettres, chiffres, « - » et « _ » (64 au plus). Il fait partie de l'identifiant de chaque document : "
        "il ne peut plus changer ensuite.",
    },
    "admin_field_agency": {"en": "Agency", "fr": "Agence"},
    "admin_field_agency_help": {
        "en": "The agency whose content this is, e.g. records.",
        "fr": "L'agence à qui appartient ce contenu, p. ex. records.",
    },
    "admin_field_name": {"en": "Name", "fr": "Nom"},
    "admin_field_name_help": {
        "en": "A name people read, e.g. Records wiki.",
        "fr": "Un nom lisible, p. ex. Wiki des dossiers.",
    },
    "admin_field_schedule": {"en": "Schedule", "fr": "Horaire"},
    "admin_field_schedule_help": {
        "en": "'every 30m' (s, m, h or d), a cron expression such as '0 2 * * *' (UTC), or empty to run on request only.",
        "fr": "« every 30m » (s, m, h ou d), une expression cron comme « 0 2 * * * » (UTC), ou vide pour "
        "n'exécuter que sur demande.",
    },
    "admin_field_acl": {"en": "Groups that may see it", "fr": "Groupes qui peuvent la voir"},
    "admin_field_acl_help": {
        "en": "One group per line; public is everyone. Used when the source says nothing about a document.",
        "fr": "Un groupe par ligne ; public, c'est tout le monde. Utilisé quand la source ne dit rien d'un document.",
    },
    "admin_field_enabled": {
        "en": "Enabled (runs on its schedule)",
        "fr": "Activée (s'exécute selon son horaire)",
    },
    "admin_field_enabled_help": {"en": "", "fr": ""},
    "admin_check_title": {"en": "Test connection: {id}", "fr": "Test de connexion : {id}"},
    "admin_schedule_title": {"en": "Schedule not saved: {id}", "fr": "Horaire non enregistré : {id}"},
    "admin_reindex_interrupted": {
        "en": "The rebuild started at {started} stopped before the end (its process ended); start it again.",
        "fr": "La reconstruction lancée à {started} s'est arrêtée avant la fin (son processus a pris fin) ; "
        "relancez-la.",
    },
    "admin_check_ok": {
        "en": "The source answered as configured.",
        "fr": "La source a répondu comme prévu.",
    },
    "admin_check_failed": {
        "en": "The source cannot be read as configured:",
        "fr": "La source ne peut pas être lue telle qu'elle est configurée :",
    },
    "admin_history_title": {"en": "Run history: {id}", "fr": "Historique des exécutions : {id}"},
    "admin_runs_total": {"en": "{n} runs.", "fr": "{n} exécutions."},
    "admin_run": {"en": "Run", "fr": "Exécution"},
    "admin_run_title": {"en": "Run #{run} of {id}", "fr": "Exécution no {run} de {id}"},
    "admin_started": {"en": "Started", "fr": "Début"},
    "admin_finished": {"en": "Finished", "fr": "Fin"},
    "admin_mode": {"en": "Mode", "fr": "Mode"},
    "admin_status": {"en": "Status", "fr": "État"},
    "admin_counts": {"en": "Counts", "fr": "Décomptes"},
    "admin_excluded": {"en": "Excluded (not failures)", "fr": "Exclus (pas des échecs)"},
    "admin_failures": {"en": "Failures", "fr": "Échecs"},
    "admin_n_failures": {"en": "failures: {n}", "fr": "échecs : {n}"},
    "admin_failure_ref": {"en": "What", "fr": "Quoi"},
    "admin_failure_reason": {"en": "Reason", "fr": "Raison"},
    "admin_failure_transient": {"en": "May pass later", "fr": "Peut réussir plus tard"},
    "admin_yes": {"en": "yes", "fr": "oui"},
    "admin_no": {"en": "no", "fr": "non"},
    "admin_none": {"en": "None.", "fr": "Aucun."},
    "admin_people_help": {
        "en": "What you set here is kept in the database and wins over config/people.toml for that person.",
        "fr": "Ce que vous indiquez ici est gardé dans la base de données et l'emporte sur config/people.toml "
        "pour cette personne.",
    },
    "admin_people_find": {"en": "Find a person", "fr": "Trouver une personne"},
    "admin_people_total": {"en": "{n} people.", "fr": "{n} personnes."},
    "admin_opted_out": {"en": "not suggested (opted out)", "fr": "non suggérée (retrait)"},
    "admin_self_opted": {"en": "by their own choice", "fr": "à sa propre demande"},
    "admin_bot": {"en": "bot", "fr": "robot"},
    "admin_set_in_console": {"en": "set in the console", "fr": "réglée dans la console"},
    "admin_aliases": {"en": "Other spellings of the name", "fr": "Autres graphies du nom"},
    "admin_aliases_help": {
        "en": "One per line, as sources write them, e.g. Tremblay, Geneviève.",
        "fr": "Une par ligne, comme les sources les écrivent, p. ex. Tremblay, Geneviève.",
    },
    "admin_opt_out": {"en": "Never suggest as an expert", "fr": "Ne jamais suggérer comme experte ou expert"},
    "admin_undo_self_opt_out": {
        "en": "Undo the opt-out this person chose",
        "fr": "Annuler le retrait choisi par cette personne",
    },
}
MESSAGES.update(ADMIN_MESSAGES)


def translate(ui_lang: str, key: str, /, **values: object) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(ui_lang) or entry["en"]
    return text.format(**values) if values else text
