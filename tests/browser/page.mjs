// The browser side of tests/browser.rs and tests/nginx.rs: headless Chromium (Debian's, never a downloaded
// build) driven with playwright-core, one command per line of JSON on stdin, one answer per
// line of JSON on stdout ({"ok":true,...} or {"ok":false,"error":...}). Lines with an
// "event" field instead are what the page did (console errors, page errors, failed or
// blocked requests): the test prints them. Only loopback is reached: every other request
// is aborted before it leaves (the page's CDN fonts, say).
//
// Environment: PLAYWRIGHT_CORE (the package's folder), CHROMIUM (the executable),
// USER_DATA_DIR (a new, empty folder: the browser's profile).
//
// Commands:
//   {"op":"launch","httpCredentials":{"username":U,"password":P}}
//                                                  (re)start the browser; with credentials,
//                                                  it answers HTTP auth challenges with them
//                                                  as a sign-in dialog would (optional: open
//                                                  launches one without)
//   {"op":"open","url":U}                          load U, wait for the page's own script
//                                                  (an error status is returned at once,
//                                                  also when it failed the navigation)
//   {"op":"click","selector":S}
//   {"op":"waitText","selector":S,"text":T,"timeoutMs":N}
//                                                  poll the DOM until S's text has T
//   {"op":"waitAttr","selector":S,"attr":A,"value":V,"timeoutMs":N}
//   {"op":"texts","selector":S}                    textContent of every match, in order
//   {"op":"text","selector":S}                     textContent of the first match or null
//   {"op":"screenshot","path":P}
//   {"op":"close"}                                 close the browser and exit
// End of input closes the browser too.

import { createInterface } from 'node:readline';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const { chromium } = await import(
  pathToFileURL(path.join(process.env.PLAYWRIGHT_CORE, 'index.mjs')).href
);

const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const event = (kind, detail) => send({ event: kind, detail });

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

let context = null;
let page = null;

async function launch(httpCredentials) {
  context = await chromium.launchPersistentContext(process.env.USER_DATA_DIR, {
    ...(httpCredentials ? { httpCredentials } : {}),
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-extensions',
      '--disable-dev-shm-usage',
      // No name resolves but loopback's.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
    ],
    viewport: { width: 1280, height: 800 },
    serviceWorkers: 'block',
  });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'data:' || url.protocol === 'blob:' || LOOPBACK.has(url.hostname)) {
      return route.continue();
    }
    event('blocked', `${route.request().method()} ${url.origin}${url.pathname}`);
    return route.abort('blockedbyclient');
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      event('console', `${msg.type()}: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => event('pageerror', String(err && err.stack ? err.stack : err)));
  page.on('requestfailed', (req) => {
    const url = new URL(req.url());
    if (!LOOPBACK.has(url.hostname)) return; // reported as blocked already
    event('requestfailed', `${req.method()} ${url.pathname}${url.search}: ${req.failure()?.errorText}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) {
      const url = new URL(res.url());
      event('http', `${res.status()} ${res.request().method()} ${url.pathname}${url.search}`);
    }
  });
}

// The DOM is polled (every 100 ms) until the condition holds or the time is up.
async function waitFor(fn, arg, timeoutMs) {
  const started = Date.now();
  await page.waitForFunction(fn, arg, { polling: 100, timeout: timeoutMs });
  return Date.now() - started;
}

async function handle(cmd) {
  switch (cmd.op) {
    case 'launch':
      if (context) await context.close();
      context = null;
      closing = null;
      await launch(cmd.httpCredentials);
      return {};
    case 'open': {
      if (!context) await launch();
      // The main frame's last answer: a 401 the browser has no credentials for fails the
      // navigation (net::ERR_INVALID_AUTH_CREDENTIALS), and that answer says why.
      let answered = null;
      const onResponse = (r) => {
        if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) answered = r;
      };
      page.on('response', onResponse);
      let res;
      try {
        res = await page.goto(cmd.url, { waitUntil: 'load', timeout: 60000 });
      } catch (e) {
        if (answered && answered.status() >= 400) {
          return { status: answered.status(), error: String(e && e.message ? e.message : e) };
        }
        throw e;
      } finally {
        page.off('response', onResponse);
      }
      if (res && res.status() >= 400) {
        return { status: res.status(), title: await page.title() };
      }
      // The page's script (assets/js/conversations.js) ran: it defines viewConversation.
      await page.waitForFunction(() => typeof window.viewConversation === 'function', null, {
        polling: 100,
        timeout: 30000,
      });
      return { status: res ? res.status() : null, title: await page.title() };
    }
    case 'click':
      await page.click(cmd.selector, { timeout: 30000 });
      return {};
    case 'waitText': {
      const ms = await waitFor(
        ([s, t]) => {
          const el = document.querySelector(s);
          return !!el && el.textContent.includes(t);
        },
        [cmd.selector, cmd.text],
        cmd.timeoutMs,
      );
      return { ms };
    }
    case 'waitAttr': {
      const ms = await waitFor(
        ([s, a, v]) => {
          const el = document.querySelector(s);
          return !!el && el.getAttribute(a) === v;
        },
        [cmd.selector, cmd.attr, cmd.value],
        cmd.timeoutMs,
      );
      return { ms };
    }
    case 'texts':
      return {
        value: await page.$$eval(cmd.selector, (els) => els.map((e) => e.textContent.trim())),
      };
    case 'text':
      return {
        value: await page.evaluate((s) => {
          const el = document.querySelector(s);
          return el ? el.textContent : null;
        }, cmd.selector),
      };
    case 'screenshot':
      await page.screenshot({ path: cmd.path, fullPage: true });
      return {};
    case 'close':
      await shutdown();
      return {};
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

let closing = null;
function shutdown() {
  closing ??= (async () => {
    if (context) await context.close().catch(() => {});
    context = null;
  })();
  return closing;
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    send({ ok: false, error: `not JSON: ${e.message}` });
    continue;
  }
  try {
    send({ ok: true, ...(await handle(cmd)) });
  } catch (e) {
    send({ ok: false, error: String(e && e.message ? e.message : e) });
  }
  if (cmd.op === 'close') break;
}
await shutdown();
process.exit(0);
