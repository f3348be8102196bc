// helpers.mjs — what the browser tests read from the chat, the way a person sees it.
// Playwright's CSS locators pierce open shadow roots, so the same helpers read the chat page
// and the widget.
import assert from 'node:assert/strict';

export { assert };

/** The conversation shown in scope (a page or a locator): [{direction, text, id, state}]. */
export function shown(scope) {
    return scope.locator('.pal-msg').evaluateAll((items) =>
        items.map((li) => ({
            direction: li.dataset.direction,
            text: li.querySelector('.pal-text').textContent,
            id: li.dataset.id ? Number(li.dataset.id) : null,
            state: li.classList.contains('pal-failed') ? 'failed' : li.classList.contains('pal-pending') ? 'pending' : 'shown',
        })),
    );
}

/** Waits until check(conversation) is true; fails with the conversation shown. */
export async function waitForConversation(scope, what, check, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    let last = [];
    for (;;) {
        last = await shown(scope);
        if (check(last)) return last;
        if (Date.now() > deadline) {
            throw new Error(`waited ${timeoutMs} ms for ${what}; the chat shows:\n${render(last)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

export function render(conversation) {
    if (!conversation.length) return '  (no message)';
    return conversation
        .map((m) => `  ${m.direction === 'in' ? 'customer' : 'bot     '} #${m.id ?? '-'} ${m.state}: ${m.text}`)
        .join('\n');
}

/** The bot's replies after the customer's message text (once it is stored). */
export function repliesAfter(conversation, text) {
    const i = conversation.findLastIndex((m) => m.direction === 'in' && m.text === text);
    if (i < 0 || conversation[i].id == null) return [];
    const rest = conversation.slice(i + 1);
    const next = rest.findIndex((m) => m.direction === 'in');
    return (next < 0 ? rest : rest.slice(0, next)).filter((m) => m.direction === 'out');
}

/** Types text in the chat's box and presses Enter; waits for the bot's first reply to it. */
export async function say(scope, inputName, text, { reply = () => true, timeoutMs = 15000 } = {}) {
    const box = scope.getByRole('textbox', { name: inputName });
    await box.fill(text);
    await box.press('Enter');
    const conversation = await waitForConversation(
        scope,
        `a reply to ${JSON.stringify(text)}`,
        (c) => repliesAfter(c, text).some((m) => reply(m.text)),
        timeoutMs,
    );
    return repliesAfter(conversation, text);
}

/** Two views of the conversation are the same messages in the same order. */
export function sameConversation(a, b) {
    const key = (c) => c.map((m) => `${m.id} ${m.direction} ${m.text}`);
    assert.deepEqual(key(b), key(a));
}
