/*
 * langid.c — French, English or can't tell, for chat messages of a few words
 * (see langid.h).
 *
 * Every word adds French and English evidence, counted in tenths of a point:
 *  1. exact lookup in `lexicon`, a sorted constant table of frequent chat
 *     words written for palabre (function words, greetings, politeness,
 *     customer-service and bar vocabulary, SMS spellings, accent-less French
 *     spellings), each with a French and an English weight. Words both
 *     languages use ("ok", "taxi", "menu") weigh 0/0: they are known, so no
 *     spelling cue is guessed for them either;
 *  2. a word with French accents that is not in the table is looked up again
 *     without them ("résultat" -> "resultat"); the accent itself counts for
 *     French;
 *  3. runs of three or more repeated letters are squeezed ("merciii"), then
 *     one typo is undone (a letter too many, or two letters swapped) — but
 *     only towards a word that clearly belongs to one language;
 *  4. otherwise spelling cues: French diacritics, endings and letter
 *     sequences (-eau, -aient, -euse, -ez), English ones (th, wh-, -ing,
 *     -ght, -n't). A word's cues are capped below a good lexicon word.
 * The language with more evidence wins when it leads by MIN_MARGIN and holds
 * most of the evidence; otherwise the answer is PAL_LANG_UNKNOWN.
 *
 * Assumes: words are lower case, as pal_text_normalize makes them. Every
 * read is bounded by the slice length, so invalid UTF-8, empty slices and
 * huge words are harmless: they give no evidence. Only the first MAX_WORDS
 * words are read, so a call costs a bounded time whatever the input.
 * No allocation, no mutable state: thread-safe.
 */
#include "text/langid.h"

#include <stdint.h>
#include <string.h>

enum {
    LEX_WORD_MAX = 24,    /* longest lexicon word, in bytes, with room to spare */
    CUE_WORD_MAX = 48,    /* longer "words" are noise (or attacks): no evidence */
    MAX_WORDS = 64,       /* words read per message */
    CUE_CAP = 25,         /* at most this much evidence from one word's spelling */
    ACCENT_BONUS = 10,    /* a French accent on a word found once stripped */
    MIN_MARGIN = 18,      /* the winner's lead, in tenths: about one clear word */
    FULL_CONFIDENCE = 50, /* a lead this large is fully confident (with no rival) */
    TYPO_MIN_WEIGHT = 25, /* typo repair only towards words this typical... */
    TYPO_MAX_RIVAL = 5,   /* ...of one language and not of the other */
};

typedef struct lex_entry {
    const char *word; /* lower case, UTF-8 */
    uint8_t fr;       /* evidence for French, in tenths of a point */
    uint8_t en;       /* evidence for English */
} lex_entry;

/* Keep in byte order (LC_ALL=C sort), without duplicates: lookups bisect it.
 * pal_langid__tables_ok() checks this; the unit test calls it.
 * Weights: 35-40 says the language on its own (merci, thanks), 25-30 typical,
 * 15-20 leaning, 0-10 shared. One word a line: adding one is a one-line diff. */
/* clang-format off */
static const lex_entry lexicon[] = {
    {"a", 10, 10},
    {"about", 0, 30},
    {"abt", 0, 25},
    {"accord", 30, 0},
    {"account", 0, 35},
    {"achete", 28, 0},
    {"acheter", 30, 0},
    {"actually", 0, 30},
    {"addition", 10, 5},
    {"address", 0, 35},
    {"adieu", 30, 0},
    {"adore", 15, 10},
    {"adresse", 30, 0},
    {"after", 0, 28},
    {"afternoon", 0, 35},
    {"again", 0, 28},
    {"agence", 30, 0},
    {"ai", 22, 3},
    {"aide", 25, 3},
    {"aider", 30, 0},
    {"aidez", 35, 0},
    {"ailleurs", 30, 0},
    {"aime", 28, 0},
    {"aimerais", 35, 0},
    {"aimerait", 30, 0},
    {"airport", 0, 30},
    {"ajd", 30, 0},
    {"ale", 0, 20},
    {"all", 0, 25},
    {"aller", 30, 0},
    {"allez", 30, 0},
    {"allons", 30, 0},
    {"alors", 30, 0},
    {"already", 0, 30},
    {"alright", 0, 30},
    {"also", 0, 28},
    {"always", 0, 30},
    {"am", 3, 15},
    {"ami", 28, 0},
    {"amis", 28, 0},
    {"an", 5, 18},
    {"and", 0, 30},
    {"android", 0, 0},
    {"annee", 30, 0},
    {"annulation", 35, 0},
    {"annule", 30, 0},
    {"annuler", 35, 0},
    {"another", 0, 30},
    {"ans", 28, 0},
    {"answer", 0, 30},
    {"any", 0, 30},
    {"anybody", 0, 30},
    {"anyone", 0, 30},
    {"anything", 0, 30},
    {"anywhere", 0, 30},
    {"aout", 30, 0},
    {"app", 0, 8},
    {"appeler", 30, 0},
    {"appelle", 30, 0},
    {"appli", 35, 0},
    {"application", 3, 3},
    {"aprem", 30, 0},
    {"apres", 30, 0},
    {"après", 30, 0},
    {"are", 0, 30},
    {"aren't", 0, 30},
    {"argent", 30, 0},
    {"arrive", 12, 12},
    {"arrived", 0, 30},
    {"arriver", 30, 0},
    {"article", 10, 8},
    {"as", 10, 18},
    {"asap", 3, 12},
    {"ask", 0, 28},
    {"asked", 0, 28},
    {"assez", 30, 0},
    {"at", 0, 25},
    {"attend", 10, 15},
    {"attendez", 35, 0},
    {"attendre", 30, 0},
    {"attends", 30, 0},
    {"attente", 30, 0},
    {"au", 22, 2},
    {"aucun", 30, 0},
    {"aucune", 30, 0},
    {"auj", 30, 0},
    {"aujourd'", 30, 0},
    {"aujourd'hui", 35, 0},
    {"aujourdhui", 35, 0},
    {"aurais", 30, 0},
    {"aurait", 30, 0},
    {"aussi", 30, 0},
    {"autre", 28, 0},
    {"autres", 28, 0},
    {"aux", 28, 0},
    {"available", 0, 35},
    {"avait", 30, 0},
    {"avant", 28, 0},
    {"avec", 30, 0},
    {"avez", 30, 0},
    {"avoir", 30, 0},
    {"avons", 30, 0},
    {"avril", 35, 0},
    {"awesome", 0, 30},
    {"bag", 0, 25},
    {"bah", 20, 3},
    {"bancaire", 35, 0},
    {"bar", 0, 0},
    {"bas", 18, 3},
    {"bathroom", 0, 35},
    {"bc", 0, 15},
    {"bcp", 35, 0},
    {"be", 0, 22},
    {"beau", 25, 0},
    {"beaucoup", 35, 0},
    {"been", 0, 30},
    {"beer", 0, 35},
    {"beers", 0, 35},
    {"before", 0, 30},
    {"being", 0, 28},
    {"belle", 28, 0},
    {"ben", 18, 3},
    {"bien", 28, 0},
    {"bientot", 30, 0},
    {"bienvenue", 35, 0},
    {"biere", 35, 0},
    {"bieres", 35, 0},
    {"big", 0, 25},
    {"bill", 0, 22},
    {"bises", 30, 0},
    {"bisou", 35, 0},
    {"bisous", 35, 0},
    {"biz", 20, 3},
    {"bière", 35, 0},
    {"bjour", 30, 0},
    {"bjr", 35, 0},
    {"blanc", 30, 0},
    {"blanche", 30, 0},
    {"blonde", 15, 5},
    {"bof", 30, 0},
    {"boire", 35, 0},
    {"bois", 28, 0},
    {"bon", 22, 2},
    {"bonjour", 40, 0},
    {"bonne", 30, 0},
    {"bonnes", 30, 0},
    {"bonsoir", 40, 0},
    {"book", 0, 25},
    {"booked", 0, 28},
    {"booking", 3, 15},
    {"bottle", 0, 30},
    {"bottles", 0, 30},
    {"bought", 0, 30},
    {"bouteille", 35, 0},
    {"boutique", 15, 8},
    {"branch", 0, 25},
    {"bravo", 3, 3},
    {"bref", 30, 0},
    {"bring", 0, 30},
    {"bro", 3, 15},
    {"broken", 0, 30},
    {"brunch", 0, 0},
    {"brune", 30, 0},
    {"bsr", 30, 0},
    {"btw", 0, 30},
    {"burger", 0, 0},
    {"bus", 0, 0},
    {"buts", 30, 0},
    {"buy", 0, 28},
    {"by", 0, 20},
    {"bye", 5, 18},
    {"c'", 30, 0},
    {"ca", 25, 0},
    {"cadeau", 35, 0},
    {"cafe", 10, 5},
    {"call", 0, 25},
    {"camping", 0, 0},
    {"can", 0, 25},
    {"can't", 0, 30},
    {"cancel", 0, 35},
    {"canceled", 0, 35},
    {"cancellation", 0, 35},
    {"cancelled", 0, 35},
    {"cannot", 0, 30},
    {"cant", 0, 28},
    {"car", 8, 15},
    {"card", 0, 30},
    {"carrement", 35, 0},
    {"carte", 30, 0},
    {"cash", 5, 20},
    {"cb", 20, 0},
    {"cc", 20, 0},
    {"ce", 22, 0},
    {"ceci", 30, 0},
    {"cela", 30, 0},
    {"celle", 30, 0},
    {"celui", 30, 0},
    {"cent", 15, 10},
    {"centre", 10, 5},
    {"cependant", 30, 0},
    {"ces", 28, 0},
    {"cest", 30, 0},
    {"cet", 25, 0},
    {"cette", 30, 0},
    {"change", 8, 15},
    {"changer", 30, 0},
    {"chaque", 30, 0},
    {"chat", 5, 5},
    {"chaud", 30, 0},
    {"cheap", 0, 30},
    {"check", 0, 22},
    {"cheers", 0, 28},
    {"cher", 28, 0},
    {"cherche", 28, 0},
    {"chercher", 30, 0},
    {"chere", 30, 0},
    {"chez", 30, 0},
    {"chien", 35, 0},
    {"chips", 0, 20},
    {"chose", 30, 0},
    {"choses", 30, 0},
    {"chouette", 35, 0},
    {"chui", 30, 0},
    {"chuis", 30, 0},
    {"ciao", 0, 0},
    {"cider", 0, 20},
    {"cidre", 30, 0},
    {"cinq", 35, 0},
    {"client", 0, 0},
    {"cliente", 25, 0},
    {"clients", 0, 0},
    {"close", 0, 25},
    {"closed", 0, 30},
    {"closes", 0, 30},
    {"club", 0, 0},
    {"coca", 3, 0},
    {"cocktail", 0, 0},
    {"cocktails", 0, 0},
    {"code", 0, 0},
    {"coffee", 0, 30},
    {"cola", 0, 0},
    {"cold", 0, 25},
    {"colis", 35, 0},
    {"color", 0, 30},
    {"colour", 0, 30},
    {"combien", 35, 0},
    {"come", 3, 22},
    {"coming", 0, 28},
    {"commande", 30, 0},
    {"commander", 30, 0},
    {"commandes", 30, 0},
    {"comme", 25, 0},
    {"comment", 22, 8},
    {"comprend", 30, 0},
    {"comprends", 35, 0},
    {"compte", 28, 0},
    {"connais", 30, 0},
    {"connait", 30, 0},
    {"connexion", 35, 0},
    {"conseiller", 35, 0},
    {"contact", 0, 0},
    {"contacter", 30, 0},
    {"content", 5, 8},
    {"contente", 30, 0},
    {"contre", 28, 0},
    {"cool", 0, 3},
    {"copain", 30, 0},
    {"copine", 30, 0},
    {"cos", 0, 15},
    {"cost", 0, 30},
    {"costs", 0, 28},
    {"coucou", 40, 0},
    {"could", 0, 30},
    {"couldn't", 0, 30},
    {"couleur", 35, 0},
    {"coupon", 5, 15},
    {"coute", 35, 0},
    {"coutent", 35, 0},
    {"coz", 0, 30},
    {"credit", 0, 25},
    {"crois", 30, 0},
    {"cuz", 0, 30},
    {"cv", 15, 3},
    {"d'", 30, 0},
    {"dac", 30, 0},
    {"dacc", 30, 0},
    {"daccord", 35, 0},
    {"dans", 30, 0},
    {"date", 0, 0},
    {"day", 0, 28},
    {"days", 0, 28},
    {"de", 25, 0},
    {"deal", 0, 25},
    {"debit", 0, 25},
    {"decembre", 35, 0},
    {"dedans", 30, 0},
    {"dehors", 30, 0},
    {"deja", 30, 0},
    {"delai", 35, 0},
    {"delais", 35, 0},
    {"deliver", 0, 35},
    {"delivered", 0, 35},
    {"delivery", 0, 35},
    {"demain", 35, 0},
    {"demi", 22, 0},
    {"depuis", 30, 0},
    {"dernier", 30, 0},
    {"derniere", 30, 0},
    {"derriere", 30, 0},
    {"des", 28, 0},
    {"desole", 35, 0},
    {"desolee", 35, 0},
    {"dessert", 3, 3},
    {"dessous", 30, 0},
    {"dessus", 30, 0},
    {"deux", 35, 0},
    {"devant", 30, 0},
    {"devez", 30, 0},
    {"did", 0, 28},
    {"didn't", 0, 30},
    {"didnt", 0, 28},
    {"dimanche", 35, 0},
    {"dire", 28, 0},
    {"dis", 25, 3},
    {"discount", 0, 30},
    {"dispo", 30, 0},
    {"disponible", 35, 0},
    {"dispos", 30, 0},
    {"dit", 25, 0},
    {"dites", 28, 0},
    {"dix", 30, 0},
    {"do", 5, 20},
    {"does", 0, 28},
    {"doesn't", 0, 30},
    {"doesnt", 0, 28},
    {"dog", 0, 28},
    {"doing", 0, 28},
    {"dois", 28, 0},
    {"doit", 28, 0},
    {"don't", 0, 30},
    {"donc", 28, 0},
    {"done", 0, 22},
    {"donne", 28, 0},
    {"donner", 30, 0},
    {"donnez", 30, 0},
    {"dont", 10, 15},
    {"douze", 30, 0},
    {"down", 0, 28},
    {"drink", 0, 30},
    {"drinks", 0, 30},
    {"driver", 0, 25},
    {"droite", 35, 0},
    {"dsl", 35, 0},
    {"du", 25, 0},
    {"dude", 0, 30},
    {"dunno", 0, 30},
    {"déjà", 30, 0},
    {"each", 0, 28},
    {"eat", 0, 30},
    {"eau", 35, 0},
    {"echange", 30, 0},
    {"eight", 0, 30},
    {"eleven", 0, 30},
    {"elle", 30, 0},
    {"elles", 30, 0},
    {"email", 0, 0},
    {"en", 18, 0},
    {"encore", 20, 3},
    {"end", 3, 12},
    {"endroit", 30, 0},
    {"enfant", 30, 0},
    {"enfants", 30, 0},
    {"enfin", 30, 0},
    {"ensemble", 30, 0},
    {"ensuite", 30, 0},
    {"entre", 18, 3},
    {"entree", 15, 8},
    {"envoi", 35, 0},
    {"envoie", 30, 0},
    {"envoye", 30, 0},
    {"envoyer", 30, 0},
    {"equipe", 30, 0},
    {"erreur", 30, 0},
    {"error", 3, 20},
    {"es", 15, 0},
    {"especes", 30, 0},
    {"est", 28, 0},
    {"et", 22, 0},
    {"etait", 30, 0},
    {"ete", 25, 0},
    {"etes", 30, 0},
    {"etre", 30, 0},
    {"euh", 30, 0},
    {"euro", 5, 5},
    {"euros", 15, 5},
    {"eux", 28, 0},
    {"evening", 0, 30},
    {"ever", 0, 25},
    {"every", 0, 28},
    {"everybody", 0, 30},
    {"everyone", 0, 30},
    {"evidemment", 35, 0},
    {"exactement", 35, 0},
    {"exchange", 0, 28},
    {"excuse", 10, 15},
    {"excusez", 35, 0},
    {"expedition", 5, 5},
    {"expensive", 0, 30},
    {"facebook", 0, 0},
    {"facture", 35, 0},
    {"faim", 35, 0},
    {"faire", 30, 0},
    {"fais", 28, 0},
    {"fait", 28, 0},
    {"faites", 30, 0},
    {"far", 0, 25},
    {"fast", 0, 8},
    {"faut", 30, 0},
    {"faux", 30, 0},
    {"femme", 30, 0},
    {"ferme", 28, 2},
    {"fermez", 30, 0},
    {"fevrier", 35, 0},
    {"few", 0, 25},
    {"find", 0, 28},
    {"fine", 0, 25},
    {"first", 0, 28},
    {"five", 0, 30},
    {"fois", 30, 0},
    {"fonctionne", 35, 0},
    {"food", 0, 30},
    {"for", 0, 30},
    {"forgot", 0, 30},
    {"found", 0, 25},
    {"four", 0, 30},
    {"franchement", 35, 0},
    {"free", 0, 25},
    {"frere", 30, 0},
    {"friday", 0, 35},
    {"friend", 0, 30},
    {"friends", 0, 30},
    {"fries", 0, 30},
    {"frites", 35, 0},
    {"froid", 30, 0},
    {"from", 0, 30},
    {"frr", 25, 0},
    {"fun", 3, 10},
    {"gagne", 30, 0},
    {"game", 0, 28},
    {"garantie", 35, 0},
    {"gare", 30, 0},
    {"gauche", 30, 0},
    {"genial", 30, 0},
    {"genre", 18, 3},
    {"gens", 30, 0},
    {"get", 0, 25},
    {"getting", 0, 28},
    {"gift", 0, 28},
    {"gimme", 0, 30},
    {"gin", 0, 0},
    {"give", 0, 28},
    {"glace", 28, 0},
    {"glacons", 35, 0},
    {"glass", 0, 30},
    {"go", 3, 22},
    {"goal", 0, 25},
    {"goals", 0, 25},
    {"going", 0, 28},
    {"gonna", 0, 30},
    {"good", 0, 30},
    {"goodbye", 0, 30},
    {"google", 0, 0},
    {"got", 0, 25},
    {"gotta", 0, 30},
    {"grand", 25, 3},
    {"grande", 25, 5},
    {"gratuit", 35, 0},
    {"gratuite", 35, 0},
    {"grave", 15, 5},
    {"great", 0, 30},
    {"gros", 25, 3},
    {"guys", 0, 28},
    {"had", 0, 25},
    {"haha", 0, 0},
    {"hahaha", 0, 0},
    {"half", 0, 28},
    {"happy", 3, 18},
    {"has", 0, 25},
    {"have", 0, 30},
    {"haven't", 0, 30},
    {"havent", 0, 28},
    {"hbu", 0, 30},
    {"he", 0, 18},
    {"hein", 35, 0},
    {"hello", 5, 25},
    {"help", 0, 30},
    {"her", 0, 25},
    {"here", 0, 28},
    {"heu", 30, 0},
    {"heure", 30, 0},
    {"heures", 30, 0},
    {"hey", 3, 18},
    {"hi", 0, 25},
    {"hier", 30, 0},
    {"him", 0, 25},
    {"his", 0, 25},
    {"hiya", 0, 30},
    {"hold", 0, 25},
    {"homme", 30, 0},
    {"horaire", 30, 0},
    {"horaires", 35, 0},
    {"hot", 3, 15},
    {"hotel", 0, 0},
    {"hour", 0, 30},
    {"hours", 0, 30},
    {"how", 0, 30},
    {"how's", 0, 30},
    {"howdy", 0, 30},
    {"hru", 0, 30},
    {"hui", 20, 0},
    {"huit", 35, 0},
    {"humain", 30, 0},
    {"hundred", 0, 30},
    {"hungry", 0, 30},
    {"i", 0, 25},
    {"i'd", 0, 25},
    {"i'll", 0, 25},
    {"i'm", 0, 30},
    {"i've", 0, 30},
    {"ice", 0, 25},
    {"ici", 28, 0},
    {"identifiant", 35, 0},
    {"idk", 0, 35},
    {"if", 2, 20},
    {"il", 25, 0},
    {"ils", 30, 0},
    {"im", 0, 25},
    {"imo", 0, 25},
    {"impossible", 0, 0},
    {"in", 3, 22},
    {"info", 0, 0},
    {"information", 5, 8},
    {"infos", 15, 3},
    {"instagram", 0, 0},
    {"internet", 0, 0},
    {"into", 0, 30},
    {"iphone", 0, 0},
    {"is", 0, 30},
    {"isn't", 0, 30},
    {"isnt", 0, 28},
    {"issue", 0, 28},
    {"issues", 0, 28},
    {"it", 0, 25},
    {"it's", 0, 30},
    {"item", 0, 28},
    {"items", 0, 28},
    {"its", 0, 25},
    {"ive", 0, 25},
    {"j'", 30, 0},
    {"jai", 30, 0},
    {"jaime", 30, 0},
    {"jaimerais", 35, 0},
    {"jamais", 30, 0},
    {"janvier", 35, 0},
    {"jarrive", 35, 0},
    {"jattends", 35, 0},
    {"je", 30, 0},
    {"jetais", 35, 0},
    {"jeudi", 35, 0},
    {"jme", 30, 0},
    {"jogging", 0, 0},
    {"joindre", 30, 0},
    {"joue", 28, 0},
    {"jouer", 30, 0},
    {"joueur", 35, 0},
    {"joueurs", 35, 0},
    {"jour", 28, 0},
    {"journee", 35, 0},
    {"jours", 28, 0},
    {"jpeux", 30, 0},
    {"jpp", 30, 0},
    {"jsp", 35, 0},
    {"jsui", 30, 0},
    {"jsuis", 35, 0},
    {"jte", 30, 0},
    {"juice", 0, 30},
    {"juillet", 35, 0},
    {"juin", 35, 0},
    {"jus", 30, 0},
    {"jusqu'", 30, 0},
    {"just", 0, 20},
    {"juste", 25, 0},
    {"jvais", 30, 0},
    {"jveux", 35, 0},
    {"k", 0, 8},
    {"kan", 20, 0},
    {"ke", 20, 0},
    {"kebab", 0, 0},
    {"keep", 0, 28},
    {"ketchup", 0, 0},
    {"ki", 20, 0},
    {"kiff", 30, 0},
    {"kiffe", 30, 0},
    {"kk", 0, 5},
    {"know", 0, 30},
    {"koi", 30, 0},
    {"kwa", 25, 0},
    {"l'", 30, 0},
    {"la", 22, 2},
    {"lager", 0, 30},
    {"laquelle", 30, 0},
    {"last", 0, 25},
    {"late", 0, 30},
    {"le", 25, 0},
    {"left", 0, 25},
    {"lequel", 30, 0},
    {"les", 30, 0},
    {"less", 0, 20},
    {"let", 0, 25},
    {"let's", 0, 30},
    {"lets", 0, 22},
    {"leur", 30, 0},
    {"leurs", 30, 0},
    {"lien", 35, 0},
    {"like", 0, 25},
    {"link", 0, 25},
    {"liquide", 25, 3},
    {"livraison", 35, 0},
    {"livre", 25, 0},
    {"livrer", 30, 0},
    {"livreur", 35, 0},
    {"lmao", 0, 25},
    {"location", 0, 25},
    {"login", 5, 10},
    {"loin", 28, 0},
    {"lol", 3, 15},
    {"long", 5, 15},
    {"longtemps", 35, 0},
    {"look", 0, 25},
    {"looking", 0, 28},
    {"lorsqu'", 30, 0},
    {"lost", 0, 25},
    {"lot", 3, 18},
    {"lots", 0, 25},
    {"love", 0, 25},
    {"lui", 28, 0},
    {"lundi", 35, 0},
    {"là", 28, 0},
    {"m'", 25, 0},
    {"ma", 22, 2},
    {"madame", 35, 0},
    {"mademoiselle", 35, 0},
    {"magasin", 35, 0},
    {"mai", 20, 0},
    {"mail", 0, 0},
    {"maintenant", 35, 0},
    {"mais", 30, 0},
    {"make", 0, 28},
    {"mal", 18, 3},
    {"mall", 0, 25},
    {"mange", 25, 3},
    {"manger", 35, 0},
    {"manque", 30, 0},
    {"many", 0, 28},
    {"marche", 25, 3},
    {"marcher", 30, 0},
    {"mardi", 35, 0},
    {"marque", 28, 0},
    {"mars", 20, 0},
    {"match", 0, 0},
    {"mate", 0, 25},
    {"matin", 30, 0},
    {"may", 3, 18},
    {"maybe", 0, 30},
    {"mayo", 0, 0},
    {"mayonnaise", 3, 3},
    {"mdr", 35, 0},
    {"mdrr", 35, 0},
    {"me", 12, 12},
    {"meme", 18, 8},
    {"menu", 0, 0},
    {"merci", 35, 0},
    {"mercii", 35, 0},
    {"mercredi", 35, 0},
    {"merde", 35, 0},
    {"merki", 30, 0},
    {"mersi", 30, 0},
    {"mes", 25, 0},
    {"message", 0, 0},
    {"met", 10, 15},
    {"metro", 10, 8},
    {"mets", 25, 0},
    {"mettre", 30, 0},
    {"mi", 15, 0},
    {"midi", 28, 0},
    {"mieux", 30, 0},
    {"might", 0, 28},
    {"mille", 25, 3},
    {"min", 5, 5},
    {"mince", 30, 0},
    {"mind", 0, 25},
    {"mine", 3, 15},
    {"mins", 0, 20},
    {"minute", 0, 0},
    {"minutes", 5, 5},
    {"missing", 0, 30},
    {"mistake", 0, 30},
    {"mnt", 25, 0},
    {"modele", 30, 0},
    {"modifier", 30, 0},
    {"moi", 28, 0},
    {"moins", 30, 0},
    {"mois", 30, 0},
    {"moitie", 30, 0},
    {"mon", 25, 0},
    {"monday", 0, 35},
    {"monde", 30, 0},
    {"monnaie", 35, 0},
    {"monsieur", 35, 0},
    {"month", 0, 28},
    {"more", 0, 22},
    {"morning", 0, 30},
    {"most", 0, 25},
    {"mot", 22, 0},
    {"mouais", 35, 0},
    {"mrc", 30, 0},
    {"mrci", 30, 0},
    {"mtn", 30, 0},
    {"much", 0, 30},
    {"must", 0, 25},
    {"my", 0, 28},
    {"même", 30, 0},
    {"n", 0, 8},
    {"n'", 28, 0},
    {"nah", 0, 28},
    {"nan", 25, 3},
    {"ne", 22, 0},
    {"near", 0, 28},
    {"nearest", 0, 30},
    {"need", 0, 30},
    {"needs", 0, 28},
    {"netflix", 0, 0},
    {"neuf", 30, 0},
    {"never", 0, 30},
    {"new", 0, 25},
    {"news", 0, 25},
    {"next", 0, 28},
    {"ni", 18, 0},
    {"nice", 3, 25},
    {"nickel", 25, 3},
    {"night", 0, 28},
    {"nimporte", 30, 0},
    {"nine", 0, 30},
    {"no", 0, 20},
    {"nobody", 0, 30},
    {"non", 25, 0},
    {"nope", 0, 30},
    {"normal", 0, 0},
    {"nos", 28, 0},
    {"not", 0, 30},
    {"note", 0, 0},
    {"nothing", 0, 30},
    {"notre", 30, 0},
    {"nous", 30, 0},
    {"nouveau", 35, 0},
    {"nouvelle", 30, 0},
    {"novembre", 35, 0},
    {"now", 0, 28},
    {"np", 0, 20},
    {"nuit", 30, 0},
    {"number", 0, 28},
    {"numero", 30, 0},
    {"octobre", 35, 0},
    {"of", 0, 30},
    {"off", 0, 25},
    {"offre", 35, 0},
    {"ok", 0, 0},
    {"okay", 0, 5},
    {"old", 0, 25},
    {"omg", 5, 10},
    {"omw", 0, 25},
    {"on", 10, 10},
    {"one", 0, 25},
    {"only", 0, 28},
    {"ont", 30, 0},
    {"onze", 30, 0},
    {"open", 5, 25},
    {"opening", 0, 30},
    {"opens", 0, 30},
    {"or", 3, 18},
    {"orange", 0, 0},
    {"order", 0, 30},
    {"ordered", 0, 30},
    {"orders", 0, 30},
    {"osef", 30, 0},
    {"other", 0, 28},
    {"ou", 22, 0},
    {"ouai", 30, 0},
    {"ouais", 35, 0},
    {"oublie", 30, 0},
    {"ouep", 30, 0},
    {"ouf", 30, 0},
    {"oui", 35, 0},
    {"ouii", 35, 0},
    {"our", 0, 28},
    {"out", 0, 25},
    {"ouvert", 35, 0},
    {"ouverte", 30, 0},
    {"ouvre", 30, 0},
    {"ouvrez", 30, 0},
    {"over", 0, 25},
    {"où", 30, 0},
    {"package", 0, 25},
    {"page", 0, 0},
    {"paid", 0, 28},
    {"paiement", 35, 0},
    {"pain", 15, 10},
    {"paquet", 30, 0},
    {"par", 18, 3},
    {"parce", 35, 0},
    {"parcel", 0, 30},
    {"pardon", 15, 8},
    {"parfait", 35, 0},
    {"parfois", 30, 0},
    {"parking", 0, 0},
    {"parle", 28, 0},
    {"parler", 30, 0},
    {"parlez", 30, 0},
    {"parti", 25, 0},
    {"partir", 30, 0},
    {"partout", 30, 0},
    {"pas", 28, 0},
    {"passe", 15, 0},
    {"password", 0, 35},
    {"pasta", 0, 3},
    {"pay", 0, 28},
    {"payant", 35, 0},
    {"paye", 25, 0},
    {"payer", 30, 0},
    {"paypal", 0, 0},
    {"pck", 30, 0},
    {"pcq", 30, 0},
    {"pendant", 28, 0},
    {"pense", 28, 0},
    {"pensez", 28, 0},
    {"people", 0, 30},
    {"perdu", 30, 0},
    {"perfect", 0, 30},
    {"personne", 30, 0},
    {"personnes", 30, 0},
    {"petit", 30, 0},
    {"petite", 30, 0},
    {"peu", 25, 0},
    {"peut", 30, 0},
    {"peut-être", 35, 0},
    {"peutetre", 30, 0},
    {"peux", 30, 0},
    {"phone", 0, 25},
    {"photo", 0, 0},
    {"photos", 0, 0},
    {"pint", 0, 30},
    {"pinte", 30, 0},
    {"pints", 0, 30},
    {"pizza", 0, 0},
    {"pk", 25, 0},
    {"place", 10, 10},
    {"plait", 35, 0},
    {"plat", 25, 0},
    {"plats", 25, 0},
    {"player", 0, 28},
    {"players", 0, 28},
    {"plaît", 35, 0},
    {"please", 0, 35},
    {"pleut", 30, 0},
    {"pls", 0, 35},
    {"plus", 15, 3},
    {"plutot", 30, 0},
    {"plutôt", 30, 0},
    {"plz", 0, 35},
    {"possible", 0, 0},
    {"pour", 30, 0},
    {"pourquoi", 35, 0},
    {"pourrais", 30, 0},
    {"pourrait", 30, 0},
    {"pourriez", 35, 0},
    {"pourtant", 30, 0},
    {"pouvez", 30, 0},
    {"pouvoir", 30, 0},
    {"ppl", 0, 30},
    {"pq", 20, 0},
    {"premier", 25, 5},
    {"premiere", 20, 5},
    {"prend", 28, 0},
    {"prendre", 30, 0},
    {"prends", 30, 0},
    {"pres", 22, 0},
    {"presqu'", 30, 0},
    {"presque", 30, 0},
    {"pression", 28, 0},
    {"pretty", 0, 25},
    {"price", 0, 30},
    {"prices", 0, 30},
    {"pris", 25, 0},
    {"prix", 28, 0},
    {"problem", 0, 30},
    {"probleme", 35, 0},
    {"problems", 0, 30},
    {"prochain", 30, 0},
    {"prochaine", 30, 0},
    {"product", 0, 28},
    {"produit", 35, 0},
    {"produits", 35, 0},
    {"promo", 5, 0},
    {"près", 30, 0},
    {"psk", 30, 0},
    {"ptdr", 35, 0},
    {"pub", 5, 8},
    {"puis", 22, 0},
    {"puisqu'", 30, 0},
    {"putain", 35, 0},
    {"qd", 25, 0},
    {"qlq", 25, 0},
    {"qq", 20, 0},
    {"qqch", 30, 0},
    {"qqn", 30, 0},
    {"qu'", 30, 0},
    {"quand", 30, 0},
    {"quatre", 35, 0},
    {"que", 30, 0},
    {"quel", 30, 0},
    {"quelle", 30, 0},
    {"quelles", 30, 0},
    {"quelqu'", 30, 0},
    {"quelqu'un", 30, 0},
    {"quelque", 30, 0},
    {"quelques", 30, 0},
    {"quelquun", 30, 0},
    {"quels", 30, 0},
    {"question", 0, 0},
    {"questions", 0, 0},
    {"qui", 28, 0},
    {"quinze", 35, 0},
    {"quite", 0, 28},
    {"quoi", 30, 0},
    {"quoiqu'", 30, 0},
    {"r", 0, 15},
    {"rapide", 30, 0},
    {"rappeler", 35, 0},
    {"rdv", 30, 0},
    {"really", 0, 30},
    {"receive", 0, 30},
    {"received", 0, 30},
    {"recevoir", 30, 0},
    {"recois", 30, 0},
    {"recu", 30, 0},
    {"red", 0, 28},
    {"refund", 0, 35},
    {"refunded", 0, 35},
    {"refunds", 0, 35},
    {"rembourse", 30, 0},
    {"remboursement", 35, 0},
    {"rembourser", 35, 0},
    {"rentrer", 30, 0},
    {"reponse", 35, 0},
    {"reservation", 5, 10},
    {"reserve", 10, 12},
    {"reserver", 30, 0},
    {"restaurant", 0, 0},
    {"restroom", 0, 35},
    {"result", 0, 35},
    {"resultat", 35, 0},
    {"resultats", 35, 0},
    {"results", 0, 35},
    {"retard", 25, 3},
    {"retour", 35, 0},
    {"return", 0, 25},
    {"returns", 0, 25},
    {"revoir", 35, 0},
    {"reçu", 30, 0},
    {"rhum", 20, 0},
    {"rien", 30, 0},
    {"right", 0, 25},
    {"rn", 0, 25},
    {"rose", 5, 8},
    {"rouge", 25, 0},
    {"round", 0, 25},
    {"rue", 28, 0},
    {"rum", 0, 15},
    {"rupture", 28, 3},
    {"s'", 25, 0},
    {"sa", 22, 0},
    {"sac", 25, 0},
    {"said", 0, 25},
    {"sais", 28, 0},
    {"sait", 28, 0},
    {"salad", 0, 30},
    {"salade", 30, 0},
    {"salle", 30, 0},
    {"salon", 0, 0},
    {"salut", 35, 0},
    {"same", 0, 30},
    {"samedi", 35, 0},
    {"sandwich", 0, 0},
    {"sans", 25, 0},
    {"saturday", 0, 35},
    {"savez", 30, 0},
    {"savoir", 30, 0},
    {"say", 0, 25},
    {"score", 0, 0},
    {"se", 18, 0},
    {"seat", 0, 28},
    {"seats", 0, 28},
    {"see", 0, 25},
    {"selon", 28, 0},
    {"semaine", 35, 0},
    {"send", 0, 25},
    {"sent", 8, 15},
    {"sept", 25, 5},
    {"septembre", 35, 0},
    {"sera", 28, 0},
    {"serait", 30, 0},
    {"sert", 25, 0},
    {"serve", 0, 25},
    {"serveur", 35, 0},
    {"serveuse", 35, 0},
    {"service", 0, 0},
    {"services", 0, 0},
    {"servir", 30, 0},
    {"ses", 25, 0},
    {"sest", 30, 0},
    {"seulement", 35, 0},
    {"seven", 0, 30},
    {"shall", 0, 25},
    {"she", 0, 28},
    {"shipped", 0, 30},
    {"shipping", 0, 30},
    {"shop", 0, 25},
    {"shopping", 0, 0},
    {"should", 0, 30},
    {"si", 20, 0},
    {"simple", 0, 0},
    {"site", 0, 0},
    {"six", 10, 10},
    {"size", 0, 28},
    {"sleep", 0, 30},
    {"slt", 35, 0},
    {"small", 0, 28},
    {"smth", 0, 20},
    {"snack", 0, 0},
    {"so", 3, 18},
    {"soda", 0, 0},
    {"soif", 35, 0},
    {"soir", 30, 0},
    {"soiree", 35, 0},
    {"solde", 25, 0},
    {"soldes", 30, 0},
    {"some", 0, 28},
    {"someone", 0, 30},
    {"something", 0, 30},
    {"somewhere", 0, 30},
    {"sommes", 30, 0},
    {"son", 15, 8},
    {"sont", 30, 0},
    {"sorry", 0, 35},
    {"sortie", 30, 0},
    {"sortir", 30, 0},
    {"souci", 35, 0},
    {"soucis", 35, 0},
    {"sound", 0, 25},
    {"sounds", 0, 28},
    {"sous", 28, 0},
    {"souvent", 30, 0},
    {"speak", 0, 30},
    {"sport", 0, 0},
    {"sry", 0, 30},
    {"station", 8, 12},
    {"statut", 30, 0},
    {"steak", 0, 0},
    {"sth", 0, 15},
    {"still", 0, 28},
    {"stock", 0, 0},
    {"stop", 0, 0},
    {"store", 0, 30},
    {"stout", 0, 25},
    {"stp", 35, 0},
    {"street", 0, 28},
    {"stuff", 0, 30},
    {"stv", 30, 0},
    {"suis", 30, 0},
    {"suivi", 35, 0},
    {"suivre", 30, 0},
    {"sunday", 0, 35},
    {"sup", 3, 18},
    {"super", 8, 3},
    {"sur", 25, 0},
    {"sure", 0, 28},
    {"surtout", 30, 0},
    {"sushi", 0, 0},
    {"svp", 35, 0},
    {"sympa", 35, 0},
    {"t'", 25, 0},
    {"ta", 18, 3},
    {"table", 0, 0},
    {"tables", 0, 0},
    {"tacos", 0, 0},
    {"taille", 35, 0},
    {"take", 0, 28},
    {"talk", 0, 30},
    {"tard", 28, 0},
    {"tarif", 30, 0},
    {"tarifs", 30, 0},
    {"taxi", 0, 0},
    {"tbh", 0, 30},
    {"te", 15, 2},
    {"tea", 0, 30},
    {"team", 0, 25},
    {"telephone", 5, 8},
    {"tell", 0, 28},
    {"temps", 30, 0},
    {"ten", 0, 22},
    {"terrasse", 35, 0},
    {"tes", 25, 0},
    {"test", 0, 0},
    {"than", 0, 30},
    {"thank", 0, 35},
    {"thanks", 0, 35},
    {"thanx", 0, 30},
    {"that", 0, 30},
    {"that's", 0, 30},
    {"thats", 0, 28},
    {"the", 2, 35},
    {"their", 0, 30},
    {"them", 0, 30},
    {"then", 0, 28},
    {"there", 0, 30},
    {"there's", 0, 30},
    {"these", 0, 30},
    {"they", 0, 30},
    {"thing", 0, 28},
    {"think", 0, 30},
    {"thirsty", 0, 30},
    {"this", 0, 30},
    {"thnx", 0, 30},
    {"those", 0, 30},
    {"three", 0, 30},
    {"thursday", 0, 35},
    {"thx", 0, 35},
    {"thé", 30, 0},
    {"ticket", 3, 5},
    {"tickets", 3, 5},
    {"time", 0, 25},
    {"tjrs", 30, 0},
    {"tjs", 30, 0},
    {"tks", 0, 20},
    {"tkt", 35, 0},
    {"to", 0, 30},
    {"today", 0, 35},
    {"toi", 28, 0},
    {"toilet", 0, 25},
    {"toilettes", 35, 0},
    {"tomorrow", 0, 35},
    {"ton", 18, 5},
    {"tonic", 0, 0},
    {"tonight", 0, 35},
    {"too", 0, 30},
    {"top", 3, 3},
    {"tot", 15, 3},
    {"toujours", 30, 0},
    {"tous", 30, 0},
    {"tout", 28, 0},
    {"toute", 30, 0},
    {"toutes", 30, 0},
    {"tqt", 30, 0},
    {"track", 0, 25},
    {"tracking", 0, 28},
    {"train", 5, 5},
    {"tranquille", 35, 0},
    {"trente", 35, 0},
    {"tres", 30, 0},
    {"tried", 0, 28},
    {"trkl", 30, 0},
    {"trois", 35, 0},
    {"trop", 28, 0},
    {"trouve", 28, 0},
    {"trouver", 30, 0},
    {"truc", 30, 0},
    {"trucs", 30, 0},
    {"try", 0, 25},
    {"très", 30, 0},
    {"tt", 15, 0},
    {"tu", 25, 0},
    {"tuesday", 0, 35},
    {"twelve", 0, 30},
    {"twenty", 0, 30},
    {"two", 0, 30},
    {"ty", 0, 20},
    {"tysm", 0, 30},
    {"téléphone", 35, 0},
    {"tôt", 30, 0},
    {"u", 0, 22},
    {"uber", 0, 0},
    {"un", 22, 0},
    {"under", 0, 28},
    {"understand", 0, 35},
    {"une", 30, 0},
    {"up", 0, 25},
    {"ur", 0, 22},
    {"us", 5, 20},
    {"va", 25, 0},
    {"vachement", 35, 0},
    {"vais", 30, 0},
    {"vas", 28, 0},
    {"velo", 30, 0},
    {"vendredi", 35, 0},
    {"venir", 30, 0},
    {"verre", 30, 0},
    {"verres", 30, 0},
    {"vers", 22, 0},
    {"very", 0, 30},
    {"veut", 30, 0},
    {"veux", 30, 0},
    {"video", 0, 0},
    {"viens", 28, 0},
    {"vient", 28, 0},
    {"ville", 30, 0},
    {"vin", 30, 0},
    {"vingt", 35, 0},
    {"visa", 0, 0},
    {"vite", 30, 0},
    {"vodka", 0, 0},
    {"voila", 30, 0},
    {"voilà", 30, 0},
    {"voir", 28, 0},
    {"vois", 28, 0},
    {"voit", 28, 0},
    {"voiture", 35, 0},
    {"vont", 30, 0},
    {"vos", 28, 0},
    {"votre", 30, 0},
    {"voudrais", 35, 0},
    {"voudrait", 30, 0},
    {"voudrions", 35, 0},
    {"voulais", 30, 0},
    {"voulez", 30, 0},
    {"vouloir", 30, 0},
    {"vous", 30, 0},
    {"vrai", 30, 0},
    {"vraie", 30, 0},
    {"vraiment", 35, 0},
    {"vrmt", 30, 0},
    {"vu", 20, 0},
    {"w", 0, 8},
    {"wait", 0, 28},
    {"waiter", 0, 35},
    {"waiting", 0, 28},
    {"wanna", 0, 30},
    {"want", 0, 30},
    {"wants", 0, 28},
    {"was", 0, 30},
    {"wasn't", 0, 30},
    {"wassup", 0, 30},
    {"wat", 0, 25},
    {"water", 0, 30},
    {"way", 0, 25},
    {"wbu", 0, 30},
    {"wc", 3, 0},
    {"we", 0, 25},
    {"we're", 0, 30},
    {"weather", 0, 30},
    {"web", 0, 0},
    {"website", 0, 30},
    {"wednesday", 0, 35},
    {"week", 0, 10},
    {"week-end", 0, 0},
    {"weekend", 0, 3},
    {"welcome", 0, 30},
    {"well", 0, 25},
    {"were", 0, 30},
    {"wesh", 30, 0},
    {"what", 0, 30},
    {"what's", 0, 30},
    {"whats", 0, 30},
    {"whatsapp", 0, 0},
    {"when", 0, 30},
    {"where", 0, 30},
    {"where's", 0, 30},
    {"wheres", 0, 30},
    {"which", 0, 30},
    {"whiskey", 0, 3},
    {"whisky", 0, 0},
    {"white", 0, 30},
    {"who", 0, 28},
    {"who's", 0, 30},
    {"why", 0, 30},
    {"wifi", 0, 0},
    {"will", 3, 25},
    {"win", 0, 25},
    {"wine", 0, 30},
    {"with", 0, 30},
    {"without", 0, 30},
    {"won", 0, 25},
    {"won't", 0, 30},
    {"wont", 0, 20},
    {"work", 0, 28},
    {"working", 0, 28},
    {"works", 0, 28},
    {"worries", 0, 30},
    {"would", 0, 30},
    {"wouldn't", 0, 30},
    {"wrong", 0, 30},
    {"wsh", 30, 0},
    {"wyd", 0, 30},
    {"xd", 0, 0},
    {"y", 12, 8},
    {"y'", 25, 0},
    {"y'a", 30, 0},
    {"ya", 10, 10},
    {"yea", 0, 25},
    {"yeah", 0, 35},
    {"year", 0, 28},
    {"yep", 0, 30},
    {"yes", 0, 35},
    {"yesterday", 0, 35},
    {"yet", 0, 25},
    {"yh", 0, 20},
    {"yo", 5, 5},
    {"you", 0, 30},
    {"you're", 0, 30},
    {"your", 0, 30},
    {"youre", 0, 25},
    {"yours", 0, 25},
    {"yup", 0, 30},
    {"zut", 35, 0},
    {"à", 25, 0},
    {"ça", 30, 0},
    {"était", 30, 0},
    {"été", 30, 0},
    {"êtes", 30, 0},
    {"être", 30, 0},
};
/* clang-format on */

#define LEXICON_SIZE (sizeof(lexicon) / sizeof(lexicon[0]))

typedef enum cue_place {
    CUE_ANYWHERE,
    CUE_START,
    CUE_END,
    CUE_NOT_END, /* anywhere but the last letters: "ee" in "need", not in "idee" */
} cue_place;

typedef struct spelling_cue {
    const char *letters;
    uint8_t len;   /* strlen(letters) */
    uint8_t place; /* cue_place */
    uint8_t lang;  /* pal_lang */
    uint8_t weight;
} spelling_cue;

/* Spelling of words outside the lexicon. Loans that defeat a cue ("parking",
 * "whisky") belong in the lexicon as shared words. */
/* clang-format off */
#define CUE(letters, place, lang, weight) {letters, sizeof(letters) - 1, place, lang, weight}
/* clang-format on */
static const spelling_cue cues[] = {
    CUE("eau", CUE_ANYWHERE, PAL_LANG_FR, 20),   CUE("oeu", CUE_ANYWHERE, PAL_LANG_FR, 15),
    CUE("ouill", CUE_ANYWHERE, PAL_LANG_FR, 20), CUE("eu", CUE_ANYWHERE, PAL_LANG_FR, 6),
    CUE("aient", CUE_END, PAL_LANG_FR, 25),      CUE("aux", CUE_END, PAL_LANG_FR, 18),
    CUE("oux", CUE_END, PAL_LANG_FR, 15),        CUE("eux", CUE_END, PAL_LANG_FR, 12),
    CUE("euse", CUE_END, PAL_LANG_FR, 18),       CUE("euses", CUE_END, PAL_LANG_FR, 18),
    CUE("ez", CUE_END, PAL_LANG_FR, 18),         CUE("ons", CUE_END, PAL_LANG_FR, 5),
    CUE("ement", CUE_END, PAL_LANG_FR, 8),       CUE("ique", CUE_END, PAL_LANG_FR, 4),
    CUE("iques", CUE_END, PAL_LANG_FR, 12),      CUE("que", CUE_END, PAL_LANG_FR, 8),
    CUE("oir", CUE_END, PAL_LANG_FR, 15),        CUE("oire", CUE_END, PAL_LANG_FR, 15),
    CUE("eur", CUE_END, PAL_LANG_FR, 12),        CUE("eurs", CUE_END, PAL_LANG_FR, 12),
    CUE("aire", CUE_END, PAL_LANG_FR, 12),       CUE("aires", CUE_END, PAL_LANG_FR, 12),
    CUE("ille", CUE_END, PAL_LANG_FR, 12),       CUE("illes", CUE_END, PAL_LANG_FR, 12),
    CUE("ette", CUE_END, PAL_LANG_FR, 10),       CUE("ettes", CUE_END, PAL_LANG_FR, 10),
    CUE("elle", CUE_END, PAL_LANG_FR, 10),       CUE("iere", CUE_END, PAL_LANG_FR, 18),
    CUE("ieres", CUE_END, PAL_LANG_FR, 18),      CUE("ais", CUE_END, PAL_LANG_FR, 10),
    CUE("ait", CUE_END, PAL_LANG_FR, 8),         CUE("gne", CUE_END, PAL_LANG_FR, 10),
    CUE("oi", CUE_END, PAL_LANG_FR, 12),         CUE("ois", CUE_END, PAL_LANG_FR, 12),
    CUE("ui", CUE_END, PAL_LANG_FR, 8),          CUE("aine", CUE_END, PAL_LANG_FR, 10),
    CUE("oin", CUE_END, PAL_LANG_FR, 10),

    CUE("th", CUE_ANYWHERE, PAL_LANG_EN, 15),    CUE("wh", CUE_START, PAL_LANG_EN, 10),
    CUE("w", CUE_ANYWHERE, PAL_LANG_EN, 10),     CUE("k", CUE_ANYWHERE, PAL_LANG_EN, 7),
    CUE("sh", CUE_ANYWHERE, PAL_LANG_EN, 10),    CUE("ck", CUE_ANYWHERE, PAL_LANG_EN, 10),
    CUE("ght", CUE_ANYWHERE, PAL_LANG_EN, 18),   CUE("ould", CUE_ANYWHERE, PAL_LANG_EN, 18),
    CUE("oa", CUE_ANYWHERE, PAL_LANG_EN, 10),    CUE("oo", CUE_ANYWHERE, PAL_LANG_EN, 5),
    CUE("ee", CUE_NOT_END, PAL_LANG_EN, 8),      CUE("ea", CUE_NOT_END, PAL_LANG_EN, 6),
    CUE("ing", CUE_END, PAL_LANG_EN, 20),        CUE("ings", CUE_END, PAL_LANG_EN, 20),
    CUE("ly", CUE_END, PAL_LANG_EN, 12),         CUE("y", CUE_END, PAL_LANG_EN, 7),
    CUE("ys", CUE_END, PAL_LANG_EN, 6),          CUE("ed", CUE_END, PAL_LANG_EN, 10),
    CUE("ful", CUE_END, PAL_LANG_EN, 20),        CUE("ness", CUE_END, PAL_LANG_EN, 20),
    CUE("less", CUE_END, PAL_LANG_EN, 15),       CUE("ous", CUE_END, PAL_LANG_EN, 5),
    CUE("tch", CUE_END, PAL_LANG_EN, 10),        CUE("dge", CUE_END, PAL_LANG_EN, 18),
    CUE("nk", CUE_END, PAL_LANG_EN, 8),          CUE("ow", CUE_END, PAL_LANG_EN, 10),
    CUE("n't", CUE_END, PAL_LANG_EN, 20),        CUE("'s", CUE_END, PAL_LANG_EN, 18),
    CUE("'m", CUE_END, PAL_LANG_EN, 20),         CUE("'re", CUE_END, PAL_LANG_EN, 20),
    CUE("'ll", CUE_END, PAL_LANG_EN, 20),        CUE("'ve", CUE_END, PAL_LANG_EN, 20),
    CUE("'d", CUE_END, PAL_LANG_EN, 18),
};

#undef CUE
#define CUES_SIZE (sizeof(cues) / sizeof(cues[0]))

typedef struct evidence {
    int fr; /* tenths of a point */
    int en;
} evidence;

/* Orders key[0..len) against the NUL-terminated word, like strcmp. */
static int compare_key(const char *key, size_t len, const char *word)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char k = (unsigned char)key[i];
        unsigned char w = (unsigned char)word[i];
        if (w == '\0')
            return 1; /* word is a proper prefix of key */
        if (k != w)
            return k < w ? -1 : 1;
    }
    return word[len] == '\0' ? 0 : -1;
}

/* Bisects lexicon[lo..hi) for key[0..len). */
static const lex_entry *lexicon_find_in(const char *key, size_t len, size_t lo, size_t hi)
{
    if (len == 0 || len > LEX_WORD_MAX)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_key(key, len, lexicon[mid].word);
        if (c == 0)
            return &lexicon[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const lex_entry *lexicon_find(const char *key, size_t len)
{
    return lexicon_find_in(key, len, 0, LEXICON_SIZE);
}

/* True when word starts with prefix[0..len). */
static bool has_prefix(const char *word, const char *prefix, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (word[i] != prefix[i])
            return false; /* also stops at word's NUL */
    }
    return true;
}

/* Narrows [*lo, *hi) to the lexicon words that start with prefix[0..len). */
static void prefix_range(const char *prefix, size_t len, size_t *lo, size_t *hi)
{
    size_t a = 0;
    size_t b = LEXICON_SIZE;
    while (a < b) { /* first word >= prefix */
        size_t mid = a + (b - a) / 2;
        if (compare_key(prefix, len, lexicon[mid].word) > 0)
            a = mid + 1;
        else
            b = mid;
    }
    *lo = a;
    b = LEXICON_SIZE;
    while (a < b) { /* first word past the prefix */
        size_t mid = a + (b - a) / 2;
        if (has_prefix(lexicon[mid].word, prefix, len))
            a = mid + 1;
        else
            b = mid;
    }
    *hi = a;
}

/* The plain letters of the French accented letter at s (avail bytes
 * readable), or NULL when s does not start with one. All are two bytes. */
static const char *unaccent(const char *s, size_t avail)
{
    if (avail < 2)
        return NULL;
    unsigned char lead = (unsigned char)s[0];
    unsigned char next = (unsigned char)s[1];
    if (lead == 0xC5 && next == 0x93)
        return "oe"; /* œ */
    if (lead != 0xC3)
        return NULL;
    switch (next) {
    case 0xA0: /* à */
    case 0xA2: /* â */
    case 0xA4: /* ä */
        return "a";
    case 0xA6: /* æ */
        return "ae";
    case 0xA7: /* ç */
        return "c";
    case 0xA8: /* è */
    case 0xA9: /* é */
    case 0xAA: /* ê */
    case 0xAB: /* ë */
        return "e";
    case 0xAE: /* î */
    case 0xAF: /* ï */
        return "i";
    case 0xB4: /* ô */
    case 0xB6: /* ö */
        return "o";
    case 0xB9: /* ù */
    case 0xBB: /* û */
    case 0xBC: /* ü */
        return "u";
    case 0xBF: /* ÿ */
        return "y";
    default:
        return NULL;
    }
}

/* Writes key without its French accents into out (LEX_WORD_MAX + 1 bytes).
 * Returns the new length; 0 when key has no French accent, has other
 * non-ASCII bytes, or would not fit. */
static size_t strip_accents(const char *key, size_t len, char *out)
{
    size_t n = 0;
    bool changed = false;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x80) {
            if (n >= LEX_WORD_MAX)
                return 0;
            out[n++] = (char)c;
            i++;
            continue;
        }
        const char *plain = unaccent(key + i, len - i);
        if (!plain)
            return 0;
        size_t plain_len = strlen(plain);
        if (n + plain_len > LEX_WORD_MAX)
            return 0;
        memcpy(out + n, plain, plain_len);
        n += plain_len;
        i += 2;
        changed = true;
    }
    return changed ? n : 0;
}

/* Writes key into out (LEX_WORD_MAX + 1 bytes) with every run of three or
 * more equal bytes cut to keep bytes ("merciiii" -> "merci" or "mercii").
 * Returns the new length; 0 when nothing changed or it would not fit. */
static size_t squeeze_runs(const char *key, size_t len, size_t keep, char *out)
{
    size_t n = 0;
    bool changed = false;
    for (size_t i = 0; i < len;) {
        size_t run = 1;
        while (i + run < len && key[i + run] == key[i])
            run++;
        size_t copy = run;
        if (run >= 3) {
            copy = keep;
            changed = true;
        }
        if (n + copy > LEX_WORD_MAX)
            return 0;
        memset(out + n, key[i], copy);
        n += copy;
        i += run;
    }
    return changed ? n : 0;
}

/* True when e is typical of one language and not the other. */
static bool entry_is_clear(const lex_entry *e)
{
    return (e->fr >= TYPO_MIN_WEIGHT && e->en <= TYPO_MAX_RIVAL) ||
           (e->en >= TYPO_MIN_WEIGHT && e->fr <= TYPO_MAX_RIVAL);
}

/* A clear lexicon word one typo away from key: a letter too many
 * ("bonjourr", "thankss") or two neighbours swapped ("thnaks"). buf has
 * LEX_WORD_MAX + 1 bytes. Short words are left alone: too many neighbours.
 * A typo from the third letter on keeps the first two, so most candidates
 * are looked up only among the words that share them. */
static const lex_entry *typo_find(const char *key, size_t len, char *buf)
{
    const lex_entry *e;
    if (len < 4 || len > LEX_WORD_MAX)
        return NULL;
    size_t lo;
    size_t hi;
    prefix_range(key, 2, &lo, &hi);
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && key[i] == key[i - 1])
            continue; /* same word as dropping key[i - 1] */
        memcpy(buf, key, i);
        memcpy(buf + i, key + i + 1, len - i - 1);
        e = i < 2 ? lexicon_find(buf, len - 1) : lexicon_find_in(buf, len - 1, lo, hi);
        if (e && entry_is_clear(e))
            return e;
    }
    memcpy(buf, key, len);
    for (size_t i = 0; i + 1 < len; i++) {
        if (key[i] == key[i + 1])
            continue;
        buf[i] = key[i + 1];
        buf[i + 1] = key[i];
        e = i < 2 ? lexicon_find(buf, len) : lexicon_find_in(buf, len, lo, hi);
        buf[i] = key[i];
        buf[i + 1] = key[i + 1];
        if (e && entry_is_clear(e))
            return e;
    }
    return NULL;
}

static bool same_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

static bool cue_matches(const char *w, size_t len, const spelling_cue *cue)
{
    size_t n = cue->len;
    if (n > len)
        return false;
    switch ((cue_place)cue->place) {
    case CUE_START:
        return same_bytes(w, cue->letters, n);
    case CUE_END:
        return same_bytes(w + len - n, cue->letters, n);
    case CUE_ANYWHERE:
    case CUE_NOT_END:
        break;
    }
    size_t limit = cue->place == CUE_NOT_END ? len - 1 : len;
    for (size_t p = 0; p + n <= limit; p++) {
        if (w[p] == cue->letters[0] && same_bytes(w + p, cue->letters, n))
            return true;
    }
    return false;
}

static bool is_ascii_consonant(char c)
{
    return c >= 'b' && c <= 'z' && !strchr("eiouy", c);
}

/* Evidence from the spelling of a word the lexicon does not know. */
static evidence spelling_evidence(const char *w, size_t len)
{
    evidence ev = {0, 0};
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)w[i] < 0x80)
            continue;
        if (!unaccent(w + i, len - i))
            return (evidence){0, 0}; /* another language or script: no opinion */
        ev.fr = 20;                  /* é, è, ç, œ…: French */
        i++;
    }
    /* Spoken French glues j' to its verb: "jveux", "jpeux", "jcrois". */
    if (len >= 3 && w[0] == 'j' && is_ascii_consonant(w[1]))
        ev.fr += 20;
    for (size_t i = 0; i < CUES_SIZE; i++) {
        if (!cue_matches(w, len, &cues[i]))
            continue;
        if (cues[i].lang == PAL_LANG_FR)
            ev.fr += cues[i].weight;
        else
            ev.en += cues[i].weight;
    }
    if (ev.fr > CUE_CAP)
        ev.fr = CUE_CAP;
    if (ev.en > CUE_CAP)
        ev.en = CUE_CAP;
    return ev;
}

/* The evidence of a lexicon entry found for a word, scaled by tenths; a
 * word that carried French accents only counts for French. */
static evidence entry_evidence(const lex_entry *e, int tenths, bool accented)
{
    evidence ev = {e->fr * tenths / 10, e->en * tenths / 10};
    if (accented) {
        ev.fr += ACCENT_BONUS;
        if (ev.fr < 20)
            ev.fr = 20;
        ev.en = 0;
    }
    return ev;
}

static evidence word_evidence(pal_slice word)
{
    if (!word.ptr || word.len == 0 || word.len > CUE_WORD_MAX)
        return (evidence){0, 0};
    const lex_entry *e = lexicon_find(word.ptr, word.len);
    if (e)
        return entry_evidence(e, 10, false);

    char plain[LEX_WORD_MAX + 1];
    char variant[LEX_WORD_MAX + 1];
    const char *key = word.ptr;
    size_t len = word.len;
    bool accented = false;
    size_t n = strip_accents(word.ptr, word.len, plain);
    if (n > 0) {
        e = lexicon_find(plain, n);
        if (e)
            return entry_evidence(e, 10, true);
        key = plain;
        len = n;
        accented = true;
    }
    for (size_t keep = 1; keep <= 2; keep++) {
        n = squeeze_runs(key, len, keep, variant);
        e = n > 0 ? lexicon_find(variant, n) : NULL;
        if (e)
            return entry_evidence(e, 10, accented);
    }
    e = typo_find(key, len, variant);
    if (e)
        return entry_evidence(e, 6, accented);
    return spelling_evidence(word.ptr, word.len);
}

pal_langid_result pal_langid_words(const pal_slice *words, size_t n)
{
    pal_langid_result result = {PAL_LANG_UNKNOWN, 0.0f};
    int fr = 0;
    int en = 0;
    if (!words)
        return result;
    if (n > MAX_WORDS)
        n = MAX_WORDS;
    for (size_t i = 0; i < n; i++) {
        evidence ev = word_evidence(words[i]);
        fr += ev.fr;
        en += ev.en;
    }
    int lead = fr > en ? fr - en : en - fr;
    /* Too little said, or both languages said about as much ("merci thanks"). */
    if (lead < MIN_MARGIN || lead * 4 < fr + en)
        return result;
    result.lang = fr > en ? PAL_LANG_FR : PAL_LANG_EN;
    float clarity = (float)lead / (float)(fr + en);
    float strength = lead >= FULL_CONFIDENCE ? 1.0f : (float)lead / (float)FULL_CONFIDENCE;
    result.confidence = clarity * strength;
    return result;
}

const char *pal_lang_code(pal_lang lang)
{
    switch (lang) {
    case PAL_LANG_FR:
        return "fr";
    case PAL_LANG_EN:
        return "en";
    case PAL_LANG_UNKNOWN:
        break;
    }
    return "unknown";
}

/* True when s equals lower (all lower case ASCII), ignoring ASCII case. */
static bool ascii_equal_nocase(const char *s, const char *lower)
{
    for (; *lower; s++, lower++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != *lower)
            return false;
    }
    return *s == '\0';
}

bool pal_lang_parse(const char *code, pal_lang *out)
{
    if (!code)
        return false;
    if (ascii_equal_nocase(code, "fr")) {
        *out = PAL_LANG_FR;
        return true;
    }
    if (ascii_equal_nocase(code, "en")) {
        *out = PAL_LANG_EN;
        return true;
    }
    return false;
}

/* For the unit test (not in langid.h, which stays the public surface): true
 * when the tables are well formed — lexicon sorted without duplicates, words
 * lower case and short enough, weights within 0..40, cues not empty. */

bool pal_langid__tables_ok(void)
{
    for (size_t i = 0; i < LEXICON_SIZE; i++) {
        const lex_entry *e = &lexicon[i];
        size_t len = strlen(e->word);
        if (len == 0 || len > LEX_WORD_MAX || e->fr > 40 || e->en > 40)
            return false;
        for (size_t j = 0; j < len; j++) {
            if (e->word[j] >= 'A' && e->word[j] <= 'Z')
                return false;
        }
        if (i > 0 && compare_key(lexicon[i - 1].word, strlen(lexicon[i - 1].word), e->word) >= 0)
            return false;
    }
    for (size_t i = 0; i < CUES_SIZE; i++) {
        if (cues[i].len == 0 || cues[i].len != strlen(cues[i].letters))
            return false;
    }
    return true;
}
