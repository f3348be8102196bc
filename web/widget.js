// widget.js — palabre's chat, embedded in any page.
//
//   <script type="module" src="https://chat.example.com/widget.js" data-bot="stade"></script>
//
// adds a floating chat button (bottom right) that opens a panel with the chat. Optional
// attributes: data-server (the palabre server's URL; default: where widget.js came from),
// data-lang ("fr" or "en"; default: the browser's), data-open (open at once).
//
// As a module it also exports:
//   mount(element, {bot, server, lang})   the chat inside element (returns {ready, send,
//                                         focus, destroy})
//   launcher({bot, server, lang, open})   the floating button and panel (returns {open,
//                                         close, toggle, destroy})
// The chat lives in a shadow root with chat.css, so the page's styles and the chat's do not
// mix. Embedding from another origin needs the server to allow that origin (CORS with
// credentials); same-origin works as is.
import { createChat, uiLanguage, strings, format } from './chat-core.js';

const HERE = new URL('.', import.meta.url);
const STYLESHEET = new URL('chat.css', import.meta.url).href;

function shadowHost(className) {
    const host = document.createElement('div');
    host.className = className;
    const shadow = host.attachShadow({ mode: 'open' });
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = STYLESHEET;
    shadow.append(link);
    // Nothing shows before its styles do.
    host.setAttribute('data-loading', '');
    const shown = () => host.removeAttribute('data-loading');
    link.addEventListener('load', shown);
    link.addEventListener('error', shown);
    return { host, shadow };
}

function serverBase(server) {
    return server ? new URL(server, window.location.href) : HERE;
}

/** The chat with bot inside element. */
export function mount(element, { bot, server, lang = uiLanguage() } = {}) {
    if (!element) throw new TypeError('palabre widget: mount() needs an element');
    const { host, shadow } = shadowHost('palabre-chat');
    const frame = document.createElement('div');
    frame.className = 'pal-embed';
    shadow.append(frame);
    element.append(host);
    const chat = createChat(frame, { bot, base: serverBase(server), lang, headingLevel: 2 });
    const destroy = chat.destroy.bind(chat);
    chat.destroy = () => {
        destroy();
        host.remove();
    };
    return chat;
}

/** A floating button that opens and closes a panel with the chat with bot. */
export function launcher({ bot, server, lang = uiLanguage(), open: openNow = false } = {}) {
    const t = strings(lang);
    const { host, shadow } = shadowHost('palabre-widget');
    const panelId = 'pal-panel';
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'pal-launcher';
    button.setAttribute('aria-label', format(t.openChat, { bot }));
    button.title = format(t.openChat, { bot });
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-controls', panelId);
    const icon = document.createElement('span');
    icon.className = 'pal-launcher-icon';
    icon.setAttribute('aria-hidden', 'true');
    button.append(icon);

    const panel = document.createElement('div');
    panel.id = panelId;
    panel.className = 'pal-panel';
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', format(t.chatWith, { bot }));
    panel.hidden = true;

    shadow.append(panel, button);
    (document.body || document.documentElement).append(host);

    let chat = null;
    const isOpen = () => !panel.hidden;
    const open = () => {
        if (isOpen()) return;
        panel.hidden = false;
        host.setAttribute('data-open', '');
        button.setAttribute('aria-expanded', 'true');
        button.setAttribute('aria-label', t.closeChat);
        button.title = t.closeChat;
        if (!chat) {
            // Connect on first open only: a page view costs the server nothing until then.
            chat = createChat(panel, { bot, base: serverBase(server), lang, headingLevel: 2, onClose: close });
            chat.ready.then(() => isOpen() && chat.focus());
        } else {
            chat.focus();
        }
    };
    function close() {
        if (!isOpen()) return;
        panel.hidden = true;
        host.removeAttribute('data-open');
        button.setAttribute('aria-expanded', 'false');
        button.setAttribute('aria-label', format(t.openChat, { bot }));
        button.title = format(t.openChat, { bot });
        button.focus();
    }
    const toggle = () => (isOpen() ? close() : open());
    button.addEventListener('click', toggle);
    panel.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') {
            e.stopPropagation();
            close();
        }
    });
    if (openNow) open();
    return {
        open,
        close,
        toggle,
        destroy() {
            if (chat) chat.destroy();
            host.remove();
        },
    };
}

// <script type="module" src=".../widget.js" data-bot="…">: start the launcher for that tag
// (matched by URL; after a redirect, any script named widget.js with a data-bot will do).
function autostart() {
    const self = import.meta.url;
    const tags = [...document.querySelectorAll('script[data-bot]')].filter((s) => s.src);
    let mine = tags.filter((s) => s.src === self);
    if (!mine.length) mine = tags.filter((s) => new URL(s.src).pathname.endsWith('/widget.js'));
    for (const script of mine) {
        if (script.dataset.palabreStarted !== undefined) continue;
        script.dataset.palabreStarted = '';
        const lang = script.dataset.lang;
        launcher({
            bot: script.dataset.bot,
            server: script.dataset.server || undefined,
            lang: lang === 'fr' || lang === 'en' ? lang : uiLanguage(),
            open: script.hasAttribute('data-open'),
        });
    }
}

if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', autostart, { once: true });
} else {
    autostart();
}
