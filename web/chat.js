// chat.js — the web chat page (/chat): the list of bots, or with ?bot=NAME the chat with
// that bot. Everything is in chat-core.js, shared with the embeddable widget.
import { createChat, renderPicker, uiLanguage, strings, format, isBotName } from './chat-core.js';

const lang = uiLanguage();
const t = strings(lang);
const root = document.getElementById('app');
const bot = new URLSearchParams(window.location.search).get('bot');

document.documentElement.lang = lang;

if (bot) {
    document.title = isBotName(bot) ? `${bot} — ${format(t.chatWith, { bot })}` : t.pickerTitle;
    const chat = createChat(root, { bot, lang, headingLevel: 1, backHref: window.location.pathname });
    chat.ready.then(() => chat.focus());
} else {
    document.title = t.pickerTitle;
    renderPicker(root, { lang, headingLevel: 1 });
}
