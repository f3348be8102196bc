#!/usr/bin/env node
// run.mjs — palabre's browser tests: the web chat page and the widget in a real Chromium
// (Debian's /usr/bin/chromium driven by playwright-core; no browser is downloaded), against
// the real server.
//
// It starts what the tests need and stops it at the end:
//   - the stade bot's order service (scripts/demo-orders-service, a real HTTP server);
//   - `palabre serve --listen 127.0.0.1:PORT --data TMPDIR bots/stade bots/monresultat
//     bots/assistant` (PALABRE_BIN overrides the binary; default build/palabre), ready when
//     /readyz answers 200;
//   - headless Chromium (CHROMIUM overrides /usr/bin/chromium; --no-sandbox as root).
// Then it runs the tests of chat.test.mjs, widget.test.mjs and directline.test.mjs, each in a fresh browser
// context (a new visitor), prints "ok - NAME" or "not ok - NAME" (with "# " details) per
// test and ends with "N passed, N failed". Exit status 1 when anything failed. The whole run
// is bounded by PALABRE_BROWSER_TIMEOUT seconds (default 120).
//
// Usage: node tests/browser/run.mjs [NAME_SUBSTRING]   (runs only matching tests)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { tests as chatTests } from './chat.test.mjs';
import { tests as widgetTests } from './widget.test.mjs';
import { tests as directLineTests } from './directline.test.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.PALABRE_BIN || path.join(ROOT, 'build', 'palabre');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const GLOBAL_TIMEOUT_S = Number(process.env.PALABRE_BROWSER_TIMEOUT || 120);
const TEST_TIMEOUT_MS = 40000;
const BOTS = ['bots/stade', 'bots/monresultat', 'bots/assistant'];
// stade's Direct Line secret (directline.test.mjs): made for this run
const DIRECTLINE_SECRET = `dl-${crypto.randomUUID()}`;

const filter = process.argv[2] || '';
const tests = [...chatTests, ...widgetTests, ...directLineTests].filter((t) => t.name.includes(filter));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-browser-'));
const children = [];
let browser = null;
let passed = 0;
let failed = 0;
let finished = false;
let aborted = false; // the global timeout struck: only its report is printed

function log(line, force = false) {
    if (aborted && !force) return;
    process.stdout.write(`${line}\n`);
}

function diag(text, force = false) {
    for (const line of String(text).split('\n')) log(`# ${line}`, force);
}

function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

function start(name, cmd, args, opts = {}) {
    const out = fs.openSync(path.join(tmp, `${name}.log`), 'a');
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', out, out], ...opts });
    fs.closeSync(out);
    child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.on('error', (e) => {
        child.spawnError = e;
    });
    child.logName = name;
    children.push(child);
    return child;
}

function tail(name, lines = 25) {
    try {
        return fs.readFileSync(path.join(tmp, `${name}.log`), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
        return '(no log)';
    }
}

async function waitFor(what, child, check, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    child.exited.then(() => {
        exited = true;
    });
    for (;;) {
        if (child.spawnError) throw new Error(`${what}: ${child.spawnError.message}`);
        if (exited) throw new Error(`${what}: exited before it was ready\n${tail(child.logName)}`);
        if (await check().catch(() => false)) return;
        if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms\n${tail(child.logName)}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

async function stopAll() {
    if (browser) await browser.close().catch(() => {});
    browser = null;
    await Promise.all(
        children.map(async (child) => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill('SIGTERM');
            let timer;
            const done = await Promise.race([
                child.exited,
                new Promise((r) => {
                    timer = setTimeout(() => r(null), 5000);
                }),
            ]);
            clearTimeout(timer);
            if (!done) {
                child.kill('SIGKILL');
                await child.exited;
            }
        }),
    );
}

function finish(code) {
    if (finished) return;
    finished = true;
    log(`${passed} passed, ${failed} failed`, true);
    if (failed === 0) fs.rmSync(tmp, { recursive: true, force: true });
    process.exitCode = code;
}

let current = null;
const globalTimer = setTimeout(async () => {
    const pending = current ? tests.slice(tests.indexOf(current)) : tests;
    aborted = true;
    diag(`global timeout: ${GLOBAL_TIMEOUT_S} s`, true);
    for (const t of pending) {
        log(`not ok - ${t.name} (global timeout)`, true);
        failed += 1;
    }
    if (!pending.length) {
        log('not ok - the run ended in time', true);
        failed += 1;
    }
    diag(`logs: ${tmp}`, true);
    const summary = `${passed} passed, ${failed} failed`; // what the tests still running add is not counted
    finished = true;
    await Promise.race([stopAll(), new Promise((r) => setTimeout(r, 8000))]);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    log(summary, true);
    process.exit(1);
}, GLOBAL_TIMEOUT_S * 1000);

for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, async () => {
        await stopAll();
        process.exit(130);
    });
}

async function main() {
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} not built: run make (or set PALABRE_BIN)`);
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run scripts/bootstrap (Debian package chromium)`);

    // The stade bot places orders with the brand's service: a real one on loopback.
    const ordersPort = await freePort();
    const orders = start('orders', 'python3', [path.join(ROOT, 'scripts', 'demo-orders-service'), String(ordersPort)]);
    await waitFor('demo-orders-service', orders, () => canConnect(ordersPort), 10000);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const dataDir = path.join(tmp, 'data');
    fs.mkdirSync(dataDir);
    const server = start('palabre', BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', dataDir, ...BOTS], {
        env: {
            ...process.env,
            PALABRE_STADE_SERVICE_ORDERS_URL: `http://127.0.0.1:${ordersPort}/orders`,
            PALABRE_STADE_DIRECTLINE_SECRET: DIRECTLINE_SECRET,
        },
    });
    await waitFor('palabre serve', server, async () => (await fetch(`${base}/readyz`)).status === 200, 30000);

    browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
    });

    const env = {
        base,
        root: ROOT,
        directLineSecret: DIRECTLINE_SECRET,
        /** A new visitor: a fresh context (no cookie) in a language, and a page in it. */
        async newPage(locale = 'en-US') {
            const context = await browser.newContext({
                baseURL: base,
                locale,
                extraHTTPHeaders: { 'Accept-Language': locale },
            });
            context.setDefaultTimeout(10000);
            const page = await context.newPage();
            page.errors = [];
            page.on('pageerror', (e) => page.errors.push(String(e && e.stack ? e.stack : e)));
            env.contexts.push(context);
            return page;
        },
        contexts: [],
    };

    for (const test of tests) {
        current = test;
        env.contexts = [];
        let error = null;
        let timer;
        try {
            await Promise.race([
                test.run(env),
                new Promise((_, reject) => {
                    timer = setTimeout(() => reject(new Error(`timed out after ${TEST_TIMEOUT_MS} ms`)), TEST_TIMEOUT_MS);
                }),
            ]);
            const pageErrors = env.contexts.flatMap((c) => c.pages().flatMap((p) => p.errors || []));
            if (pageErrors.length) throw new Error(`uncaught error in the page:\n${pageErrors.join('\n')}`);
            if (server.exitCode !== null || server.signalCode !== null) throw new Error('palabre serve exited');
        } catch (e) {
            error = e;
        } finally {
            clearTimeout(timer);
        }
        if (error) {
            failed += 1;
            log(`not ok - ${test.name}`);
            diag(error && error.stack ? error.stack : error);
            const shot = path.join(tmp, `${test.name.replace(/[^a-z0-9]+/gi, '-')}.png`);
            const page = env.contexts.flatMap((c) => c.pages()).at(-1);
            if (page) {
                await page.screenshot({ path: shot, fullPage: true }).then(
                    () => diag(`screenshot: ${shot}`),
                    () => {},
                );
            }
        } else {
            passed += 1;
            log(`ok - ${test.name}`);
        }
        await Promise.all(env.contexts.map((c) => c.close().catch(() => {})));
    }
    current = null;

    if (server.exitCode !== null || server.signalCode !== null) {
        failed += 1;
        log('not ok - palabre serve stayed up through the tests');
        diag(tail('palabre'));
    }
    if (failed) diag(`logs and screenshots: ${tmp}\npalabre serve, last lines:\n${tail('palabre', 15)}`);
}

function canConnect(port) {
    return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => {
            s.destroy();
            resolve(true);
        });
        s.on('error', () => resolve(false));
    });
}

try {
    await main();
} catch (e) {
    failed += 1;
    log(`not ok - ${current ? current.name : 'setup'}`);
    diag(e && e.stack ? e.stack : e);
}
await stopAll();
clearTimeout(globalTimer);
finish(failed ? 1 : 0);
