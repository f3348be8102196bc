// widget.test.mjs — widget.js embedded in a brand's page, in Chromium, against the real server.
//
// The brand's page is answered by the browser itself (page.route) at an address of the
// palabre server, so it is same-origin with it, as in the documented set-up; widget.js,
// chat-core.js, chat.css and every webchat request go to the real server.
import { assert, repliesAfter, say, shown, waitForConversation } from './helpers.mjs';

function brandPage(body) {
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stadium</title>
<style>
  /* A brand's own styles must not leak into the chat (it lives in a shadow root). */
  button { background: rgb(255, 0, 0) !important; font-size: 40px; }
  p { color: rgb(0, 128, 0); }
</style></head>
<body><h1>Stadium</h1><p>Tonight's game.</p>
${body}
</body></html>`;
}

async function openBrandPage(page, base, body) {
    const url = `${base}/brand-page-${Math.random().toString(36).slice(2)}.html`;
    await page.route(url, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: brandPage(body) }),
    );
    await page.goto(url);
}

export const tests = [
    {
        name: 'widget: the floating button opens a chat panel; a message gets its reply; Escape closes',
        async run({ newPage, base }) {
            const page = await newPage('en-US');
            await openBrandPage(page, base, '<script type="module" src="/widget.js" data-bot="stade"></script>');
            const launcher = page.getByRole('button', { name: 'Open the chat with stade' });
            await launcher.waitFor();
            const dialog = page.getByRole('dialog', { name: 'Chat with stade' });
            assert.equal(await dialog.isVisible(), false, 'closed at first');
            // The page's styles stay out of the widget.
            const bg = await launcher.evaluate((b) => getComputedStyle(b).backgroundColor);
            assert.notEqual(bg, 'rgb(255, 0, 0)');

            await launcher.click();
            await dialog.waitFor();
            const box = dialog.getByRole('textbox', { name: 'Your message' });
            await box.waitFor();
            await page.waitForFunction(() => {
                const host = document.querySelector('.palabre-widget');
                return host && host.shadowRoot.activeElement && host.shadowRoot.activeElement.tagName === 'TEXTAREA';
            });

            const replies = await say(dialog, 'Your message', 'can I get a beer');
            assert.match(replies[0].text, /How many/);
            await dialog.getByRole('group', { name: 'Suggested replies' }).getByRole('button', { name: '2', exact: true }).click();
            const conversation = await waitForConversation(dialog, 'the next question', (c) =>
                repliesAfter(c, '2').some((m) => /Bud|Coors|Corona/.test(m.text)),
            );
            assert.equal(conversation.filter((m) => m.direction === 'in').length, 2);

            await box.press('Escape');
            await dialog.waitFor({ state: 'hidden' });
            await page.getByRole('button', { name: 'Open the chat with stade' }).waitFor();
            // Opened again, it is the same conversation.
            await launcher.click();
            await dialog.waitFor();
            assert.equal((await shown(dialog)).length, conversation.length);
        },
    },
    {
        name: 'widget: mount(element, {bot}) puts the chat inside the page (assistant, in French)',
        async run({ newPage, base }) {
            const page = await newPage('fr-FR');
            await openBrandPage(
                page,
                base,
                `<section id="support" style="height: 520px; max-width: 420px"></section>
<script type="module">
  import { mount } from '/widget.js';
  window.chat = mount(document.getElementById('support'), { bot: 'assistant' });
</script>`,
            );
            const chat = page.locator('#support');
            await chat.getByRole('heading', { name: 'assistant' }).waitFor();
            assert.equal(await page.getByRole('button', { name: /Ouvrir la conversation/ }).count(), 0, 'no floating button');
            const replies = await say(chat, 'Votre message', 'Quels sont vos horaires ?');
            assert.ok(replies[0].text.length > 0);
            assert.match(replies[0].text, /h/);
        },
    },
];
