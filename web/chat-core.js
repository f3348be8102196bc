// chat-core.js — palabre's web chat, shared by the chat page (chat.js) and the
// embeddable widget (widget.js). No framework, no build step.
//
// What it assumes (the webchat channel's HTTP contract, served by `palabre serve`):
//   GET  {base}webchat/bots                 {"bots":[{name, languages, description:{fr,en}}]}
//   GET  {base}webchat/{bot}/history        {"conversation_id", "messages":[message]}
//   GET  {base}webchat/{bot}/events?after=N Server-Sent Events, `event: message`, data = message
//   POST {base}webchat/{bot}/messages       {"text","id","lang"} -> 202 {"message_id","conversation_id"}
// where a message is {id, direction: "in"|"out", text, quick_replies?, created_at}. "in" is
// the customer's (shown on the right), "out" the bot's (left). The visitor is known by an
// HttpOnly cookie that this code never reads: requests only carry credentials.
//
// Rules kept here: user and bot text go into the page with textContent only, never as
// HTML; a message is shown once whatever path brought it (history, the live stream, the
// answer to a POST), keyed by its id; customer messages are posted one at a time in the
// order they were typed, each with a client id so that a retry after a network error is
// stored once by the server.

const STRINGS = {
    en: {
        pickerTitle: 'Who would you like to talk to?',
        pickerIntro: 'Choose an assistant to start a conversation.',
        noBots: 'No assistant is available right now.',
        languages: 'Languages',
        loading: 'Loading…',
        loadFailed: 'Could not load the conversation. Check your connection.',
        botsFailed: 'Could not load the assistants. Check your connection.',
        retry: 'Retry',
        dismiss: 'Dismiss',
        messages: 'Messages',
        you: 'You',
        inputLabel: 'Your message',
        placeholder: 'Write a message…',
        send: 'Send',
        sending: 'Sending…',
        notSent: 'Not sent',
        sendFailed: 'Your message could not be sent.',
        tooLong: 'Your message is too long: please shorten it.',
        rateLimited: 'Too many messages: sending again in {s} s.',
        unavailable: 'The service is busy: sending again in {s} s.',
        reconnecting: 'Connection lost, reconnecting…',
        typing: '{bot} is writing…',
        quickReplies: 'Suggested replies',
        unknownBot: 'There is no assistant named “{bot}”.',
        allBots: 'All assistants',
        openChat: 'Open the chat with {bot}',
        closeChat: 'Close the chat',
        chatWith: 'Chat with {bot}',
    },
    fr: {
        pickerTitle: 'À qui voulez-vous parler ?',
        pickerIntro: 'Choisissez un assistant pour commencer une conversation.',
        noBots: 'Aucun assistant n’est disponible pour le moment.',
        languages: 'Langues',
        loading: 'Chargement…',
        loadFailed: 'Impossible de charger la conversation. Vérifiez votre connexion.',
        botsFailed: 'Impossible de charger les assistants. Vérifiez votre connexion.',
        retry: 'Réessayer',
        dismiss: 'Fermer',
        messages: 'Messages',
        you: 'Vous',
        inputLabel: 'Votre message',
        placeholder: 'Écrivez un message…',
        send: 'Envoyer',
        sending: 'Envoi…',
        notSent: 'Non envoyé',
        sendFailed: 'Votre message n’a pas pu être envoyé.',
        tooLong: 'Votre message est trop long : raccourcissez-le.',
        rateLimited: 'Trop de messages : nouvel envoi dans {s} s.',
        unavailable: 'Le service est occupé : nouvel envoi dans {s} s.',
        reconnecting: 'Connexion perdue, reconnexion…',
        typing: '{bot} écrit…',
        quickReplies: 'Réponses suggérées',
        unknownBot: 'Il n’y a pas d’assistant nommé « {bot} ».',
        allBots: 'Tous les assistants',
        openChat: 'Ouvrir la conversation avec {bot}',
        closeChat: 'Fermer la conversation',
        chatWith: 'Conversation avec {bot}',
    },
};

const BOT_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const TYPING_TIMEOUT_MS = 20000;
const MAX_AUTO_RETRY_S = 60;
// The server's default max_message_bytes: longer texts are refused (413), so say it before
// sending and keep the text in the box to shorten.
const MAX_MESSAGE_BYTES = 4096;

/** The UI language: French when the browser's preferred language is French, else English. */
export function uiLanguage(nav = globalThis.navigator) {
    const tags = (nav && (nav.languages && nav.languages.length ? nav.languages : [nav.language])) || [];
    return String(tags[0] || '').toLowerCase().startsWith('fr') ? 'fr' : 'en';
}

/** The language sent with a message: the browser's primary tag when it is one palabre speaks. */
export function requestLanguage(nav = globalThis.navigator) {
    const primary = String((nav && nav.language) || '').toLowerCase().split('-')[0];
    return primary === 'fr' || primary === 'en' ? primary : undefined;
}

/** UI strings of a language ("fr" or "en"), with {name} placeholders filled by format(). */
export function strings(lang) {
    return STRINGS[lang] || STRINGS.en;
}

export function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

/** A valid bot name (what the server accepts in a path segment). */
export function isBotName(name) {
    return typeof name === 'string' && BOT_NAME.test(name);
}

/** A bot's description in a language, falling back to English then to any. */
export function describe(bot, lang) {
    const d = bot && bot.description;
    if (!d) return '';
    if (typeof d === 'string') return d;
    return d[lang] || d.en || Object.values(d)[0] || '';
}

// ---------------------------------------------------------------------------
// HTTP

export class ApiError extends Error {
    constructor(message, { status = 0, code = 'network', retryAfter = null } = {}) {
        super(message);
        this.status = status; // 0: no answer (network error)
        this.code = code;
        this.retryAfter = retryAfter; // seconds, from Retry-After
    }
    /** Worth sending again as is: no answer, overload, or a server error. */
    get retryable() {
        return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
    }
}

/** The webchat endpoints of one palabre server; base is the URL the server's pages are under. */
export class Api {
    constructor(base) {
        this.base = new URL(base || '.', globalThis.location.href);
        if (!this.base.pathname.endsWith('/')) this.base.pathname += '/';
        this.crossOrigin = this.base.origin !== globalThis.location.origin;
    }

    url(path) {
        return new URL(path, this.base);
    }

    botPath(bot, what) {
        return `webchat/${encodeURIComponent(bot)}/${what}`;
    }

    async request(path, { method = 'GET', body } = {}) {
        const init = {
            method,
            credentials: this.crossOrigin ? 'include' : 'same-origin',
            headers: { Accept: 'application/json' },
            cache: 'no-store',
        };
        if (body !== undefined) {
            init.headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body);
        }
        let res;
        try {
            res = await fetch(this.url(path), init);
        } catch (e) {
            throw new ApiError(e && e.message ? e.message : 'network error');
        }
        let data = null;
        try {
            data = await res.json();
        } catch {
            data = null;
        }
        if (!res.ok) {
            const err = (data && data.error) || {};
            const ra = Number.parseInt(res.headers.get('Retry-After') || '', 10);
            throw new ApiError(err.message || `HTTP ${res.status}`, {
                status: res.status,
                code: err.code || `http_${res.status}`,
                retryAfter: Number.isFinite(ra) && ra >= 0 ? ra : null,
            });
        }
        return data;
    }

    bots() {
        return this.request('webchat/bots');
    }

    history(bot) {
        return this.request(this.botPath(bot, 'history'));
    }

    send(bot, message) {
        return this.request(this.botPath(bot, 'messages'), { method: 'POST', body: message });
    }

    events(bot, after) {
        const url = this.url(this.botPath(bot, 'events'));
        if (after != null) url.searchParams.set('after', String(after));
        return new EventSource(url, { withCredentials: this.crossOrigin });
    }
}

// ---------------------------------------------------------------------------
// DOM helpers: elements are built with textContent only.

function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
        if (v == null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k === 'hidden') node.hidden = true;
        else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
}

// Web addresses in a bot's reply become links (built as elements, never parsed as HTML);
// a sentence's final punctuation is not part of the address.
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'«»]+/g;

function textWithLinks(text) {
    const out = [];
    let at = 0;
    for (const match of text.matchAll(URL_IN_TEXT)) {
        let href = match[0].replace(/[.,;:!?)\]]+$/, '');
        let url = null;
        try {
            url = new URL(href);
        } catch {
            url = null;
        }
        if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
        if (match.index > at) out.push(text.slice(at, match.index));
        out.push(el('a', { href: url.href, text: href, target: '_blank', rel: 'noopener noreferrer nofollow' }));
        at = match.index + href.length;
    }
    if (at < text.length) out.push(text.slice(at));
    return out;
}

function clientId() {
    if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

let uid = 0;
function nextDomId(prefix) {
    uid += 1;
    return `${prefix}-${uid}`;
}

function formatTime(iso, lang) {
    const d = iso ? new Date(iso) : new Date();
    if (Number.isNaN(d.getTime())) return { text: '', iso: '' };
    const now = new Date();
    const sameDay = d.toDateString() === now.toDateString();
    const opts = sameDay
        ? { hour: 'numeric', minute: '2-digit' }
        : { day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit' };
    return { text: new Intl.DateTimeFormat(lang, opts).format(d), iso: d.toISOString() };
}

// ---------------------------------------------------------------------------
// The bot picker

/**
 * Lists the server's bots in root; each links to href(name) (default "?bot=NAME", the
 * chat page). Returns a Promise of the bots shown.
 */
export async function renderPicker(root, { base, lang = uiLanguage(), href, headingLevel = 1 } = {}) {
    const t = strings(lang);
    const api = new Api(base);
    const link = href || ((name) => `?bot=${encodeURIComponent(name)}`);
    const status = el('p', { class: 'pal-note', role: 'status', text: t.loading });
    const list = el('ul', { class: 'pal-bots', 'aria-label': t.pickerTitle });
    const section = el(
        'section',
        { class: 'pal-root pal-picker' },
        el(`h${headingLevel}`, { class: 'pal-picker-title', text: t.pickerTitle }),
        el('p', { class: 'pal-picker-intro', text: t.pickerIntro }),
        status,
        list,
    );
    root.replaceChildren(section);

    const load = async () => {
        status.replaceChildren(t.loading);
        status.className = 'pal-note';
        let data;
        try {
            data = await api.bots();
        } catch {
            status.className = 'pal-note pal-note-error';
            status.replaceChildren(
                el('span', { text: `${t.botsFailed} ` }),
                el('button', { type: 'button', class: 'pal-link-button', text: t.retry, onclick: load }),
            );
            return [];
        }
        const bots = (data && Array.isArray(data.bots) ? data.bots : []).filter((b) => isBotName(b.name));
        list.replaceChildren(
            ...bots.map((b) =>
                el(
                    'li',
                    {},
                    el(
                        'a',
                        { class: 'pal-bot-card', href: link(b.name), 'data-bot': b.name },
                        el('span', { class: 'pal-bot-avatar', 'aria-hidden': 'true', text: b.name.slice(0, 1).toUpperCase() }),
                        el(
                            'span',
                            { class: 'pal-bot-body' },
                            el('span', { class: 'pal-bot-name', text: b.name }),
                            el('span', { class: 'pal-bot-desc', text: describe(b, lang) }),
                            Array.isArray(b.languages) && b.languages.length
                                ? el('span', {
                                      class: 'pal-bot-langs',
                                      'aria-label': `${t.languages}: ${b.languages.join(', ')}`,
                                      text: b.languages.map((l) => String(l).toUpperCase()).join(' · '),
                                  })
                                : null,
                        ),
                    ),
                ),
            ),
        );
        if (bots.length) {
            status.replaceChildren();
            status.hidden = true;
        } else {
            status.replaceChildren(t.noBots);
        }
        return bots;
    };
    return load();
}

// ---------------------------------------------------------------------------
// The chat

/**
 * Builds a chat with one bot inside root and connects it. Options:
 *   bot          the bot's name (required)
 *   base         URL the server's pages are under (default: the page's directory)
 *   lang         UI language, "fr" or "en" (default: the browser's)
 *   headingLevel level of the title (1 on the chat page, 2 in the widget)
 *   backHref     if set, a link back to the list of bots
 *   onClose      if set, a close button in the header calls it
 * Returns { ready: Promise (history loaded), send(text), focus(), destroy() }.
 */
export function createChat(root, options) {
    return new Chat(root, options);
}

class Chat {
    constructor(root, { bot, base, lang = uiLanguage(), headingLevel = 1, backHref, onClose } = {}) {
        this.root = root;
        this.bot = bot;
        this.lang = lang;
        this.t = strings(lang);
        this.api = new Api(base);
        this.sendLang = requestLanguage();
        this.byId = new Map(); // message id -> <li>
        this.lastId = null; // highest message id seen
        this.queue = []; // customer messages not yet accepted by the server, in order
        this.sendingNow = false;
        this.holdUntil = 0; // no send before this time (ms), after a 429 or 503
        this.timers = new Set();
        this.source = null;
        this.reconnectDelay = 1000;
        this.destroyed = false;
        this.quickOwner = null; // the <li> whose quick replies are shown

        this.build(headingLevel, backHref, onClose);
        if (!isBotName(bot)) {
            this.fail(format(this.t.unknownBot, { bot: String(bot ?? '') }));
            this.ready = Promise.resolve(false);
            return;
        }
        this.ready = this.start();
    }

    build(headingLevel, backHref, onClose) {
        const t = this.t;
        const titleId = nextDomId('pal-title');
        const inputId = nextDomId('pal-input');
        this.title = el(`h${headingLevel}`, { class: 'pal-title', id: titleId, text: this.bot || '' });
        this.desc = el('p', { class: 'pal-desc', hidden: true });
        this.avatar = el('span', {
            class: 'pal-avatar',
            'aria-hidden': 'true',
            text: String(this.bot || '?').slice(0, 1).toUpperCase(),
        });
        const head = el(
            'header',
            { class: 'pal-head' },
            backHref ? el('a', { class: 'pal-back', href: backHref, title: t.allBots, 'aria-label': t.allBots, text: '‹' }) : null,
            this.avatar,
            el('div', { class: 'pal-head-text' }, this.title, this.desc),
            onClose
                ? el('button', {
                      type: 'button',
                      class: 'pal-close',
                      'aria-label': t.closeChat,
                      title: t.closeChat,
                      text: '×',
                      onclick: () => onClose(),
                  })
                : null,
        );
        this.status = el('p', { class: 'pal-status', role: 'status', hidden: true });
        this.list = el('ol', {
            class: 'pal-messages',
            role: 'log',
            'aria-live': 'polite',
            'aria-relevant': 'additions',
            'aria-label': t.messages,
        });
        this.intro = el('p', { class: 'pal-intro', hidden: true });
        this.typing = el(
            'div',
            { class: 'pal-typing', hidden: true, 'aria-hidden': 'true' },
            el('span', { class: 'pal-dots' }, el('i'), el('i'), el('i')),
            el('span', { class: 'pal-typing-text', text: format(t.typing, { bot: this.bot }) }),
        );
        this.scroller = el('div', { class: 'pal-scroll', tabindex: '-1' }, this.intro, this.list, this.typing);
        this.errorText = el('span', { class: 'pal-error-text' });
        this.retryButton = el('button', {
            type: 'button',
            class: 'pal-retry',
            text: t.retry,
        });
        this.dismissButton = el('button', {
            type: 'button',
            class: 'pal-link-button',
            text: t.dismiss,
            hidden: true,
        });
        this.error = el(
            'div',
            { class: 'pal-error', role: 'alert', hidden: true },
            this.errorText,
            this.retryButton,
            this.dismissButton,
        );
        this.input = el('textarea', {
            id: inputId,
            class: 'pal-input',
            rows: '1',
            placeholder: t.placeholder,
            autocomplete: 'off',
            enterkeyhint: 'send',
        });
        this.sendButton = el('button', { type: 'submit', class: 'pal-send', text: t.send });
        this.form = el(
            'form',
            { class: 'pal-form', novalidate: true },
            el('label', { class: 'pal-sr-only', for: inputId, text: t.inputLabel }),
            this.input,
            this.sendButton,
        );
        this.section = el(
            'section',
            { class: 'pal-root pal-chat', 'aria-labelledby': titleId },
            head,
            this.status,
            this.scroller,
            this.error,
            this.form,
        );

        this.form.addEventListener('submit', (e) => {
            e.preventDefault();
            this.submit();
        });
        this.input.addEventListener('keydown', (e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                this.submit();
            }
        });
        this.input.addEventListener('input', () => this.autosize());
        // Back online: send what could not be sent, without waiting for a click.
        this.onOnline = () => {
            if (this.errorKind === 'send') this.retryNow();
        };
        globalThis.addEventListener('online', this.onOnline);
        this.root.replaceChildren(this.section);
    }

    // -- lifecycle ------------------------------------------------------------

    async start() {
        this.setStatus(this.t.loading);
        this.describeBot(); // in parallel, not needed to chat
        let history;
        try {
            history = await this.api.history(this.bot);
        } catch (e) {
            if (this.destroyed) return false;
            if (e.status === 404) {
                this.fail(format(this.t.unknownBot, { bot: this.bot }));
                return false;
            }
            this.setStatus(null);
            this.showError(this.t.loadFailed, {
                kind: 'load',
                retry: () => {
                    this.clearError();
                    this.ready = this.start();
                },
            });
            return false;
        }
        if (this.destroyed || this.failed) return false;
        this.setStatus(null);
        const messages = history && Array.isArray(history.messages) ? history.messages : [];
        // The history is not news: screen readers announce only what comes after it.
        this.list.setAttribute('aria-busy', 'true');
        for (const m of messages) this.receive(m, { live: false });
        this.list.removeAttribute('aria-busy');
        this.intro.hidden = !(messages.length === 0 && this.intro.textContent);
        this.scrollToEnd(true);
        this.openEvents();
        return true;
    }

    async describeBot() {
        try {
            const data = await this.api.bots();
            const bots = data && Array.isArray(data.bots) ? data.bots : null;
            const info = bots ? bots.find((b) => b.name === this.bot) : null;
            if (this.destroyed) return;
            if (bots && !info) {
                this.fail(format(this.t.unknownBot, { bot: this.bot }));
                return;
            }
            if (!info) return;
            const d = describe(info, this.lang);
            if (d) {
                this.desc.textContent = d;
                this.desc.hidden = false;
                this.intro.textContent = d;
                this.intro.hidden = this.byId.size > 0 || this.queue.length > 0 || this.list.children.length > 0;
            }
        } catch {
            // The description is a nicety; the chat works without it.
        }
    }

    fail(message) {
        this.failed = true;
        if (this.source) this.source.close();
        this.source = null;
        this.setTyping(false);
        this.setStatus(null);
        this.form.hidden = true;
        this.scroller.hidden = true;
        this.errorText.textContent = message;
        this.retryButton.hidden = true;
        this.error.hidden = false;
    }

    destroy() {
        this.destroyed = true;
        globalThis.removeEventListener('online', this.onOnline);
        if (this.source) this.source.close();
        for (const id of this.timers) clearTimeout(id);
        this.timers.clear();
        this.section.remove();
    }

    focus() {
        if (!this.form.hidden) this.input.focus();
    }

    later(fn, ms) {
        const id = setTimeout(() => {
            this.timers.delete(id);
            if (!this.destroyed) fn();
        }, ms);
        this.timers.add(id);
        return id;
    }

    // -- live events ----------------------------------------------------------

    openEvents() {
        if (this.destroyed || this.failed) return;
        if (this.source) this.source.close();
        const source = this.api.events(this.bot, this.lastId);
        this.source = source;
        let statusTimer = null;
        source.addEventListener('open', () => {
            this.reconnectDelay = 1000;
            if (statusTimer) clearTimeout(statusTimer);
            statusTimer = null;
            this.setStatus(null);
        });
        source.addEventListener('message', (e) => {
            let m;
            try {
                m = JSON.parse(e.data);
            } catch {
                return;
            }
            this.receive(m, { live: true });
        });
        source.addEventListener('error', () => {
            if (this.destroyed || source !== this.source) return;
            // A short blip is not worth a banner; a lasting one is.
            if (!statusTimer) {
                statusTimer = setTimeout(() => {
                    statusTimer = null;
                    if (source === this.source && source.readyState !== EventSource.OPEN) {
                        this.setStatus(this.t.reconnecting, true);
                    }
                }, 2000);
            }
            if (source.readyState === EventSource.CLOSED) {
                // The browser gave up (an HTTP error): reconnect ourselves, from the last id.
                const delay = this.reconnectDelay;
                this.reconnectDelay = Math.min(this.reconnectDelay * 2, 30000);
                this.later(() => this.openEvents(), delay);
            }
        });
    }

    // -- messages -------------------------------------------------------------

    /** A message from the server (history, live stream): shown once, in id order. */
    receive(m, { live }) {
        if (!m || typeof m !== 'object') return;
        const id = Number(m.id);
        if (!Number.isFinite(id)) return;
        if (this.lastId == null || id > this.lastId) this.lastId = id;
        if (this.byId.has(id)) return;
        const text = typeof m.text === 'string' ? m.text : '';
        const direction = m.direction === 'in' ? 'in' : 'out';

        if (direction === 'in') {
            // Our own message coming back: confirm its optimistic bubble.
            // Matched by the client id the server kept (channel_message_id), else by text.
            const cid = m.channel_message_id || m.client_id;
            const pending =
                (cid && this.queue.find((p) => p.clientId === cid)) ||
                this.queue.find((p) => p.messageId == null && p.text === text);
            if (pending) {
                this.confirm(pending, id, m.created_at);
                return;
            }
        }
        const li = this.messageElement(direction, text, m.created_at);
        li.dataset.id = String(id);
        this.byId.set(id, li);
        this.place(li, id);
        this.intro.hidden = true;
        if (direction === 'out') {
            if (this.lastOutId == null || id > this.lastOutId) this.lastOutId = id;
            this.setTyping(false);
            const replies = Array.isArray(m.quick_replies) ? m.quick_replies.filter((q) => typeof q === 'string' && q) : [];
            this.showQuickReplies(li, replies);
        } else if (this.quickOwner && Number(this.quickOwner.dataset.id) < id) {
            this.showQuickReplies(null, []);
        }
        this.scrollToEnd(!live || direction === 'out');
    }

    messageElement(direction, text, createdAt) {
        const t = this.t;
        const time = formatTime(createdAt, this.lang);
        return el(
            'li',
            { class: `pal-msg pal-msg-${direction}`, 'data-direction': direction },
            el(
                'div',
                { class: 'pal-bubble' },
                el('span', { class: 'pal-sr-only', text: `${direction === 'in' ? t.you : this.bot}: ` }),
                el('span', { class: 'pal-text' }, ...(direction === 'out' ? textWithLinks(text) : [text])),
            ),
            el(
                'div',
                { class: 'pal-meta' },
                el('time', { class: 'pal-time', datetime: time.iso || null, text: time.text }),
                el('span', { class: 'pal-state' }),
            ),
        );
    }

    /** Puts a message with an id before the first later one (pending bubbles stay last). */
    place(li, id) {
        let before = null;
        for (const child of this.list.children) {
            if (child === li) continue;
            const cid = child.dataset.id;
            if (cid === undefined || Number(cid) > id) {
                before = child;
                break;
            }
        }
        if (before) {
            if (li.nextSibling !== before || li.parentNode !== this.list) this.list.insertBefore(li, before);
        } else if (this.list.lastElementChild !== li) {
            this.list.append(li);
        }
    }

    showQuickReplies(owner, replies) {
        if (this.quickOwner && this.quickOwner !== owner) {
            const old = this.quickOwner.querySelector('.pal-quick');
            if (old) old.remove();
        }
        this.quickOwner = null;
        if (!owner || !replies.length) return;
        const group = el('div', { class: 'pal-quick', role: 'group', 'aria-label': this.t.quickReplies });
        for (const label of replies) {
            group.append(
                el('button', {
                    type: 'button',
                    class: 'pal-quick-reply',
                    text: label,
                    onclick: () => {
                        for (const b of group.querySelectorAll('button')) b.disabled = true;
                        this.send(label);
                    },
                }),
            );
        }
        owner.append(group);
        this.quickOwner = owner;
    }

    // -- sending --------------------------------------------------------------

    submit() {
        const text = this.input.value.trim();
        if (!text) {
            this.input.focus();
            return;
        }
        if (new TextEncoder().encode(text).length > MAX_MESSAGE_BYTES) {
            this.showError(this.t.tooLong, { kind: 'refused', retry: null, dismiss: () => this.clearError() });
            this.input.focus();
            return;
        }
        if (this.errorKind === 'refused') this.clearError();
        this.input.value = '';
        this.autosize();
        this.send(text);
        this.input.focus();
    }

    /** Shows the customer's message at once and posts it (after the ones before it). */
    send(text) {
        if (this.destroyed || !text) return;
        const li = this.messageElement('in', text, null);
        li.classList.add('pal-pending');
        const pending = { clientId: clientId(), text, li, messageId: null, failed: false };
        li.dataset.clientId = pending.clientId;
        this.setState(pending, this.t.sending);
        this.queue.push(pending);
        this.list.append(li);
        this.intro.hidden = true;
        this.showQuickReplies(null, []);
        this.scrollToEnd(true);
        this.pump();
    }

    async pump() {
        if (this.sendingNow || this.destroyed) return;
        if (Date.now() < this.holdUntil) return; // the server asked to wait (Retry-After)
        const pending = this.queue.find((p) => !p.accepted);
        if (!pending) return;
        this.sendingNow = true;
        pending.failed = false;
        pending.li.classList.remove('pal-failed');
        this.setState(pending, this.t.sending);
        const body = { text: pending.text, id: pending.clientId };
        if (this.sendLang) body.lang = this.sendLang;
        try {
            const res = await this.api.send(this.bot, body);
            if (this.destroyed) return;
            pending.accepted = true;
            const id = Number(res && res.message_id);
            if (Number.isFinite(id)) this.confirm(pending, id, null);
            if (this.errorKind === 'send') this.clearError();
            // The reply may already be here (the live stream can beat this answer).
            if (!(this.lastOutId > id)) this.setTyping(true);
            this.sendingNow = false;
            this.pump();
        } catch (e) {
            this.sendingNow = false;
            if (this.destroyed) return;
            pending.failed = true;
            pending.li.classList.add('pal-failed');
            this.setState(pending, this.t.notSent);
            this.onSendError(pending, e);
        }
    }

    onSendError(pending, e) {
        const t = this.t;
        if (e.status === 429 || e.status === 503) {
            const s = Math.min(e.retryAfter ?? 5, MAX_AUTO_RETRY_S);
            const msg = format(e.status === 429 ? t.rateLimited : t.unavailable, { s });
            this.holdUntil = Date.now() + s * 1000;
            this.showError(msg, { retry: () => this.retryNow() });
            this.retryTimer = this.later(() => this.retryNow(), s * 1000);
            return;
        }
        if (e.retryable) {
            this.showError(t.sendFailed, { retry: () => this.retryNow() });
            return;
        }
        // Refused for good (too long, unknown bot…): say why; the message is dropped.
        this.queue = this.queue.filter((p) => p !== pending);
        this.showError(e.status === 413 ? t.tooLong : `${t.sendFailed} ${e.message}`, {
            kind: 'refused',
            retry: null,
            dismiss: () => {
                pending.li.remove();
                this.clearError();
            },
        });
        this.pump();
    }

    retryNow() {
        this.holdUntil = 0;
        if (this.retryTimer) {
            clearTimeout(this.retryTimer);
            this.timers.delete(this.retryTimer);
            this.retryTimer = null;
        }
        this.clearError();
        this.pump();
    }

    /** The server knows this message as id: the bubble becomes a message like the others. */
    confirm(pending, id, createdAt) {
        pending.accepted = true;
        this.queue = this.queue.filter((p) => p !== pending);
        if (pending.messageId != null) return; // already confirmed the other way
        pending.messageId = id;
        const li = pending.li;
        const existing = this.byId.get(id);
        if (existing && existing !== li) {
            li.remove();
            return;
        }
        li.classList.remove('pal-pending', 'pal-failed');
        li.dataset.id = String(id);
        delete li.dataset.clientId;
        this.setState(pending, '');
        if (createdAt) {
            const time = formatTime(createdAt, this.lang);
            const node = li.querySelector('.pal-time');
            node.textContent = time.text;
            node.setAttribute('datetime', time.iso);
        }
        this.byId.set(id, li);
        if (this.lastId == null || id > this.lastId) this.lastId = id;
        this.place(li, id);
        // Stored after all (its answer was lost on the way back): nothing left to retry.
        if (this.errorKind === 'send' && !this.queue.some((p) => p.failed)) this.retryNow();
    }

    setState(pending, text) {
        const node = pending.li.querySelector('.pal-state');
        if (node) node.textContent = text;
    }

    // -- small UI pieces ------------------------------------------------------

    setStatus(text, warn = false) {
        this.status.textContent = text || '';
        this.status.hidden = !text;
        this.status.classList.toggle('pal-status-warn', !!warn);
    }

    showError(text, { retry, dismiss, kind = 'send' } = {}) {
        this.errorKind = kind;
        this.errorText.textContent = text;
        this.retryButton.hidden = !retry;
        this.retryButton.onclick = retry || null;
        this.dismissButton.hidden = !dismiss;
        this.dismissButton.onclick = dismiss || null;
        this.error.hidden = false;
    }

    clearError() {
        this.errorKind = null;
        this.error.hidden = true;
        this.errorText.textContent = '';
    }

    setTyping(on) {
        if (this.typingTimer) {
            clearTimeout(this.typingTimer);
            this.timers.delete(this.typingTimer);
            this.typingTimer = null;
        }
        this.typing.hidden = !on;
        if (on) {
            this.typingTimer = this.later(() => {
                this.typing.hidden = true;
            }, TYPING_TIMEOUT_MS);
            this.scrollToEnd(false);
        }
    }

    autosize() {
        this.input.style.height = 'auto';
        this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
    }

    scrollToEnd(force) {
        const s = this.scroller;
        const near = s.scrollHeight - s.scrollTop - s.clientHeight < 120;
        if (force || near) {
            requestAnimationFrame(() => {
                s.scrollTop = s.scrollHeight;
            });
        }
    }
}
