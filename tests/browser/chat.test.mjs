// chat.test.mjs — the chat page (/chat) in Chromium, against the real server.
import { assert, repliesAfter, render, sameConversation, say, shown, waitForConversation } from './helpers.mjs';

export const tests = [
    {
        name: 'picker lists the three bots with their description in the browser language',
        async run({ newPage }) {
            const page = await newPage('fr-FR');
            await page.goto('/chat');
            await page.getByRole('heading', { level: 1, name: 'À qui voulez-vous parler ?' }).waitFor();
            const cards = page.locator('a.pal-bot-card');
            await cards.nth(2).waitFor();
            const bots = await cards.evaluateAll((links) =>
                links.map((a) => ({
                    name: a.querySelector('.pal-bot-name').textContent,
                    description: a.querySelector('.pal-bot-desc').textContent,
                    href: a.getAttribute('href'),
                })),
            );
            assert.deepEqual(bots.map((b) => b.name).sort(), ['assistant', 'monresultat', 'stade']);
            for (const b of bots) assert.ok(b.description.length > 10, `${b.name} has no description`);
            const stade = bots.find((b) => b.name === 'stade');
            assert.match(stade.description, /bières/, 'the French description of stade');
            assert.equal(await page.locator('html').getAttribute('lang'), 'fr');

            await page.getByRole('link', { name: /^stade\b/ }).click();
            await page.waitForURL(/\/chat\?bot=stade$/);
            await page.getByRole('heading', { level: 1, name: 'stade' }).waitFor();
            await page.getByRole('textbox', { name: 'Votre message' }).waitFor();
        },
    },
    {
        name: 'stade in French: a message, the reply, a quick reply, the confirmation; a reload keeps the history',
        async run({ newPage }) {
            const page = await newPage('fr-FR');
            await page.goto('/chat?bot=stade');
            const log = page.getByRole('log', { name: 'Messages' });
            await page.getByRole('textbox', { name: 'Votre message' }).waitFor();
            assert.deepEqual(await shown(page), [], 'a new visitor starts with an empty conversation');

            const replies = await say(page, 'Votre message', '2 Corona');
            assert.match(replies[0].text, /Corona/, 'the bot repeats the order');
            const mine = page.locator('.pal-msg-in').filter({ hasText: '2 Corona' });
            assert.equal(await mine.count(), 1, 'the message is shown once');
            assert.equal(await log.getAttribute('aria-live'), 'polite');

            // The reply offers the saved card as a button.
            const saved = page.getByRole('group', { name: 'Réponses suggérées' }).getByRole('button', { name: /0345/ });
            await saved.waitFor();
            const label = (await saved.textContent()).trim();
            await saved.click();
            const conversation = await waitForConversation(
                page,
                'the order confirmation',
                (c) => repliesAfter(c, label).some((m) => /n°\s?\d+/.test(m.text)),
            );
            assert.equal(await page.locator('.pal-quick').count(), 0, 'the old quick replies are gone');
            assert.equal(conversation.filter((m) => m.direction === 'in').length, 2, render(conversation));
            assert.ok(conversation.every((m) => m.id != null && m.state === 'shown'), render(conversation));
            const ids = conversation.map((m) => m.id);
            assert.deepEqual([...ids].sort((a, b) => a - b), ids, 'messages in id order');
            assert.equal(new Set(ids).size, ids.length, 'no message twice');

            // The visitor's cookie brings the same conversation back.
            await page.reload();
            const again = await waitForConversation(page, 'the history', (c) => c.length >= conversation.length);
            sameConversation(conversation, again);
            await page.waitForTimeout(500); // the live stream must not replay what history showed
            sameConversation(conversation, await shown(page));
            assert.equal(await page.locator('.pal-quick').count(), 0, 'no quick reply after the confirmation');
        },
    },
    {
        name: 'another visitor does not see that conversation',
        async run({ newPage }) {
            const page = await newPage('en-US');
            await page.goto('/chat?bot=stade');
            await page.getByRole('textbox', { name: 'Your message' }).waitFor();
            await page.waitForTimeout(300);
            assert.deepEqual(await shown(page), []);
            // An empty conversation introduces the bot (its contract, in English).
            await page.locator('.pal-intro').filter({ hasText: /beer orders/ }).waitFor();
        },
    },
    {
        name: 'text is shown as text, never as HTML (page and history)',
        async run({ newPage }) {
            const page = await newPage('en-US');
            await page.goto('/chat?bot=stade');
            const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b> & <script>window.__pwned=2</script>';
            await say(page, 'Your message', evil);
            const check = async () => {
                const bubble = page.locator('.pal-msg-in .pal-text').filter({ hasText: 'bold' });
                assert.equal(await bubble.textContent(), evil);
                assert.equal(await page.locator('.pal-messages img, .pal-messages b, .pal-messages script').count(), 0);
                assert.equal(await page.evaluate(() => window.__pwned), undefined);
            };
            await check();
            await page.reload();
            await waitForConversation(page, 'the history', (c) => c.some((m) => m.text === evil));
            await check();
        },
    },
    {
        name: 'a send whose answer is lost shows an error; Retry stores it once, the bot answers once',
        async run({ newPage }) {
            const page = await newPage('en-US');
            // No live stream for now, so the message can only be confirmed by the retry.
            const blockEvents = (route) => route.abort('internetdisconnected');
            await page.route('**/webchat/stade/events**', blockEvents);
            let lost = 0;
            await page.route('**/webchat/stade/messages', async (route) => {
                if (lost === 0) {
                    lost += 1;
                    await route.fetch(); // the server gets it and stores it...
                    await route.abort('connectionreset'); // ...but its answer never arrives
                } else {
                    await route.continue();
                }
            });
            await page.goto('/chat?bot=stade');
            const box = page.getByRole('textbox', { name: 'Your message' });
            await box.fill('3 Coors');
            await box.press('Enter');
            const alert = page.getByRole('alert');
            await alert.filter({ hasText: 'could not be sent' }).waitFor();
            await waitForConversation(page, 'the bubble marked not sent', (c) => c.length === 1 && c[0].state === 'failed');
            assert.equal(await page.locator('.pal-msg-in .pal-state').textContent(), 'Not sent');

            await alert.getByRole('button', { name: 'Retry' }).click();
            await waitForConversation(page, 'the message stored', (c) => c.length === 1 && c[0].id != null && c[0].state === 'shown');
            await alert.waitFor({ state: 'hidden' });

            await page.unroute('**/webchat/stade/events**', blockEvents);
            const conversation = await waitForConversation(page, 'the reply, live', (c) => repliesAfter(c, '3 Coors').length > 0);
            await page.reload();
            const stored = await waitForConversation(page, 'the history', (c) => c.length >= conversation.length);
            assert.equal(stored.filter((m) => m.text === '3 Coors').length, 1, `stored once:\n${render(stored)}`);
            assert.equal(repliesAfter(stored, '3 Coors').length, repliesAfter(conversation, '3 Coors').length);
            assert.match(repliesAfter(stored, '3 Coors')[0].text, /Coors/);
        },
    },
    {
        name: 'monresultat: the result for a postal code, its address a link',
        async run({ newPage }) {
            const page = await newPage('fr-FR');
            await page.goto('/chat?bot=monresultat');
            const replies = await say(page, 'Votre message', '#MonRésultat 75011');
            assert.match(replies[0].text, /75011/);
            const link = page.locator('.pal-msg-out .pal-text a').last();
            const href = await link.getAttribute('href');
            assert.match(href, /^https?:\/\/\S+$/);
            assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');
            assert.ok(replies[0].text.includes(await link.textContent()), 'the link shows its address');
        },
    },
    {
        name: 'an unknown bot gets a clear message and a way back to the list',
        async run({ newPage }) {
            const page = await newPage('en-US');
            await page.goto('/chat?bot=nosuchbot');
            await page.getByRole('alert').filter({ hasText: 'There is no assistant named “nosuchbot”' }).waitFor();
            await page.getByRole('link', { name: 'All assistants' }).click();
            await page.locator('a.pal-bot-card').first().waitFor();
        },
    },
];
