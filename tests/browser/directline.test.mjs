// directline.test.mjs — Microsoft's unmodified Web Chat (npm botframework-webchat, its
// dist/webchat.js) on a brand's page talking to palabre through Direct Line 3.0 (polling).
//
// The page is served by a small HTTP server of this file on another port than palabre:
// another origin, so every call Web Chat makes is cross-origin and needs palabre's CORS
// answers. The page never sees the bot's secret: the test asks palabre for a token (as a
// brand's server would) and hands the token to the page.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { assert } from './helpers.mjs';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Stadium bar</title>
<style>html, body { height: 100%; margin: 0 } #webchat { height: 100% }</style>
</head>
<body>
<div id="webchat" role="main"></div>
<script src="/webchat.js"></script>
<script>
  // Called by the test with a token from palabre: Web Chat as a brand would set it up.
  window.startChat = (token, domain) => {
    window.chatStore = window.WebChat.createStore();
    window.WebChat.renderWebChat(
      {
        directLine: window.WebChat.createDirectLine({ token, domain, webSocket: false }),
        store: window.chatStore,
        locale: 'en-US',
      },
      document.getElementById('webchat'),
    );
  };
</script>
</body>
</html>
`;

/** Serves the brand's page and Web Chat's bundle on 127.0.0.1 (a port of its own). */
function startPageServer(root) {
    const bundle = path.join(root, 'node_modules', 'botframework-webchat', 'dist', 'webchat.js');
    if (!fs.existsSync(bundle)) throw new Error(`${bundle} missing: run scripts/bootstrap (npm ci)`);
    const server = http.createServer((req, res) => {
        if (req.url === '/' || req.url === '/index.html') {
            res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
            res.end(PAGE);
        } else if (req.url === '/webchat.js') {
            res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
            fs.createReadStream(bundle).pipe(res);
        } else {
            res.writeHead(404).end();
        }
    });
    return new Promise((resolve, reject) => {
        server.on('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
    });
}

/** What Web Chat holds: its activities as its store has them. */
function activities(page) {
    return page.evaluate(() =>
        window.chatStore.getState().activities.map((a) => ({
            role: a.from && a.from.role,
            type: a.type,
            id: a.id,
            text: a.text,
            clientActivityID: a.channelData && a.channelData.clientActivityID,
            status: a.channelData && a.channelData['webchat:send-status'],
            actions: ((a.suggestedActions && a.suggestedActions.actions) || []).map((x) => x.value),
        })),
    );
}

function render(list) {
    return list.map((a) => `  ${a.role} ${a.id ?? '-'} ${a.status ?? ''}: ${a.text}`).join('\n') || '  (nothing)';
}

/** Waits until check(activities) is true; fails with what Web Chat holds. */
async function waitForActivities(page, what, check, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const list = await activities(page);
        if (check(list)) return list;
        if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}; Web Chat holds:\n${render(list)}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** The bot's last message, once it answers the customer's n-th message. */
async function botAnswer(page, nth, what) {
    const list = await waitForActivities(page, what, (l) => {
        const mine = l.filter((a) => a.role === 'user' && a.type === 'message');
        const last = l.filter((a) => a.type === 'message').at(-1);
        return mine.length >= nth && last && last.role === 'bot' && l.indexOf(last) > l.indexOf(mine[nth - 1]);
    });
    return list.filter((a) => a.type === 'message').at(-1);
}

/** Clicks the visible suggested action labelled label (the first match is a hidden copy for
 * screen readers). */
async function clickAction(page, label) {
    const exact = new RegExp(`^\\s*${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
    const button = page.locator('button.webchat__suggested-action:visible').filter({ hasText: exact });
    await button.first().waitFor();
    assert.equal(await button.count(), 1, `one visible button ${label}`);
    await button.click();
}

export const tests = [
    {
        name: 'Web Chat on another origin orders beers from stade by typing and with suggested actions',
        async run({ newPage, base, root, directLineSecret }) {
            const pages = await startPageServer(root);
            try {
                const pageUrl = `http://127.0.0.1:${pages.address().port}/`;
                // The brand's server asks for a token with the secret; the page only gets the token.
                const r = await fetch(`${base}/v3/directline/tokens/generate`, {
                    method: 'POST',
                    headers: { Authorization: `Bearer ${directLineSecret}`, 'Content-Type': 'application/json' },
                    body: JSON.stringify({ user: { id: 'dl_browser-fan' } }),
                });
                assert.equal(r.status, 200, await r.clone().text());
                const { token, conversationId } = await r.json();

                const page = await newPage('en-US');
                const crossOrigin = [];
                page.on('request', (req) => {
                    if (req.url().startsWith(`${base}/v3/directline`)) crossOrigin.push(req.method());
                });
                const failedRequests = [];
                page.on('requestfailed', (req) => failedRequests.push(`${req.method()} ${req.url()}`));
                await page.goto(pageUrl);
                await page.waitForFunction(() => window.WebChat && window.startChat);
                await page.evaluate(({ t, d }) => window.startChat(t, d), { t: token, d: `${base}/v3/directline` });

                // Typing: the question, Enter.
                const box = page.locator('[data-id="webchat-sendbox-input"]');
                await box.waitFor();
                await box.fill('Hi! Can I get a beer?');
                await box.press('Enter');
                let answer = await botAnswer(page, 1, 'the question about how many beers');
                assert.equal(answer.text, 'How many beers? (1 to 4)');
                assert.deepEqual(answer.actions, ['1', '2', '3', '4']);

                // Clicking: 2, Coors, the saved card.
                await clickAction(page, '2');
                answer = await botAnswer(page, 2, 'the question about which beer');
                assert.equal(answer.text, 'Which one: Bud, Coors or Corona?');
                await clickAction(page, 'Coors');
                answer = await botAnswer(page, 3, 'the question about payment');
                assert.equal(answer.text, '2 × Coors. How do you pay?');
                await clickAction(page, 'Saved card **** 0345');
                answer = await botAnswer(page, 4, 'the order confirmation');
                assert.match(answer.text, /^Done: 2 × Coors, paid with card \*\*\*\* 0345\. Order #\d+, delivered to your seat\.$/);

                // The confirmation is on screen, and every message of the customer was echoed
                // back (hard requirement 1): sent, with palabre's id, shown once.
                await page.locator('.webchat__bubble__content').filter({ hasText: /Order #\d+/ }).first().waitFor();
                const list = await waitForActivities(page, 'every message sent', (l) =>
                    l.filter((a) => a.role === 'user').every((a) => a.status === 'sent'),
                );
                const mine = list.filter((a) => a.role === 'user' && a.type === 'message');
                assert.deepEqual(
                    mine.map((a) => a.text),
                    ['Hi! Can I get a beer?', '2', 'Coors', 'Saved card **** 0345'],
                    render(list),
                );
                for (const a of mine) {
                    assert.ok(a.id && a.id.startsWith(`${conversationId}|`), `palabre's id on ${a.text}`);
                    assert.ok(a.clientActivityID, `clientActivityID kept on ${a.text}`);
                }
                assert.equal(new Set(list.map((a) => a.id)).size, list.length, `no activity twice:\n${render(list)}`);
                assert.equal(list.filter((a) => a.role === 'bot').length, 4, render(list));
                assert.equal(await page.getByText(/Send failed/i).count(), 0, 'no "Send failed" anywhere');
                assert.equal(
                    await page.locator('button.webchat__suggested-action:visible').count(),
                    0,
                    'no suggested action after the confirmation',
                );
                assert.ok(crossOrigin.includes('OPTIONS') || crossOrigin.includes('POST'), 'Web Chat called palabre');
                assert.deepEqual(failedRequests, [], 'no request failed (CORS)');
            } finally {
                pages.closeAllConnections();
                await new Promise((resolve) => pages.close(resolve));
            }
        },
    },
];
