// Drives Converse.js 14 in Debian's Chromium for ConverseBrowserIT, one JSON command per line on
// stdin, one JSON answer per line on stdout ({"id":..,"ok":true,"value":..} or "error"). It also
// serves the page (src/test/js/converse.html and Converse's dist/) on a loopback port of its own,
// so the page comes from another origin than xbosh.
//
// node converse-driver.mjs <playwright-core package dir> <converse package dir> <page html> <chromium> <log file>
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { createInterface } from 'node:readline';

const [playwrightDir, converseDir, pageFile, chromiumPath, logFile] = process.argv.slice(2);
const { chromium } = createRequire(import.meta.url)(playwrightDir);
const log = createWriteStream(logFile, { flags: 'a' });

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.map': 'application/json',
  '.ogg': 'audio/ogg', '.mp3': 'audio/mpeg',
};

function isFile(file) {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

// ---- the page's origin: a static server on a free loopback port
const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file;
  if (path === '/' || path === '/converse.html') {
    file = pageFile;
  } else {
    file = normalize(join(converseDir, path));
    if (!file.startsWith(normalize(converseDir) + '/')) {
      res.writeHead(403).end();
      return;
    }
  }
  if (!isFile(file) && isFile(join(converseDir, 'dist', path))) {
    file = join(converseDir, 'dist', path); // libsignal fetches its wasm relative to the page
  }
  if (!isFile(file)) {
    res.writeHead(404).end();
    return;
  }
  // as deployed: the page always fresh, Converse's files from the browser's cache on a reload
  const cache = file === pageFile ? 'no-cache' : 'max-age=3600';
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': cache });
  createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
    // the page names outside hosts (Converse's sponsor logos): resolve nothing but loopback
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});

/** One user: a browser context of its own (its own storage) with one page. */
const users = new Map();

function page(user) {
  const u = users.get(user);
  if (!u) throw new Error(`no page for ${user}`);
  return u.page;
}

function ridOf(request) {
  const m = /\brid=["'](\d+)["']/.exec(request.postData() ?? '');
  return m ? Number(m[1]) : -1;
}

function chat(jid) {
  return `converse-chat[jid="${jid}"]`;
}

/** Resolves once the page has sent a WebSocket message containing `text`. */
function frameSent(u, text, timeout) {
  return new Promise((resolve, reject) => {
    const waiter = (payload) => {
      if (payload.includes(text)) {
        clearTimeout(timer);
        u.frameWaiters.delete(waiter);
        resolve(payload);
      }
    };
    const timer = setTimeout(() => {
      u.frameWaiters.delete(waiter);
      reject(new Error(`no WebSocket message with ${text} within ${timeout} ms`));
    }, timeout);
    u.frameWaiters.add(waiter);
  });
}

const commands = {
  /**
   * Opens Converse on its own origin in a new context, talking BOSH to `bosh`, or XMPP over
   * WebSocket (RFC 7395) to `ws` when given.
   */
  async open({ user, bosh = null, ws = null, loglevel = 'info' }) {
    const context = await browser.newContext();
    const p = await context.newPage();
    p.on('console', (m) => log.write(`[${user}] console.${m.type()}: ${m.text()}\n`));
    p.on('pageerror', (e) => log.write(`[${user}] page error: ${e.message}\n`));
    p.on('response', (r) => r.status() >= 400 && log.write(`[${user}] HTTP ${r.status()}: ${r.request().method()} ${r.url()}\n`));
    p.on('requestfailed', (r) => log.write(`[${user}] request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}\n`));
    const u = { context, page: p, bosh, ws, terminations: [], frameWaiters: new Set(), sockets: [] };
    users.set(user, u);
    // every WebSocket message the page sends, for `send` to know when its message went out
    p.on('websocket', (socket) => {
      u.sockets.push(socket.url());
      log.write(`[${user}] WebSocket to ${socket.url()}\n`);
      socket.on('framesent', (f) => u.frameWaiters.forEach((w) => w(String(f.payload))));
      socket.on('close', () => log.write(`[${user}] WebSocket closed\n`));
    });
    // every session end the page was told of, as xbosh wrote it
    p.on('response', async (r) => {
      if (r.url() !== bosh || r.request().method() !== 'POST') return;
      try {
        const body = await r.text();
        if (/type=["']terminate["']/.test(body)) {
          u.terminations.push(body);
          log.write(`[${user}] BOSH terminate: ${body}\n`);
        }
      } catch {
        // the page went away before the body could be read
      }
    });
    const endpoint = ws ? `ws=${encodeURIComponent(ws)}` : `bosh=${encodeURIComponent(bosh)}`;
    await p.goto(`${origin}/converse.html?${endpoint}&loglevel=${loglevel}`);
    await p.waitForSelector('#converse-login-jid, converse-roster', { timeout: 30000 });
    return true;
  },

  /** Logs in through Converse's own login form, as a person does. */
  async login({ user, jid, password }) {
    const p = page(user);
    await p.fill('#converse-login-jid', jid);
    await p.fill('#converse-login-password', password);
    await p.click('#converse-login button[type=submit]');
    return true;
  },

  /** What the page shows and knows of its connection. */
  async state({ user }) {
    return page(user).evaluate(() => {
      const c = window.xboshTest;
      const conn = c?.api?.connection?.get?.();
      const stored = sessionStorage.getItem('strophe-bosh-session');
      const feedback = document.querySelector('#converse-login .conn-feedback');
      return {
        connected: !!conn?.connected && !!conn?.authenticated,
        sid: conn?._proto?.sid ?? null,
        service: conn?.service ?? null,
        rid: conn?._proto?.rid ?? null,
        stored: stored ? JSON.parse(stored) : null,
        loginForm: !!document.querySelector('#converse-login-jid'),
        feedback: feedback && !feedback.classList.contains('d-none') ? feedback.textContent.trim() : '',
        status: c?.state?.connfeedback?.get('connection_status') ?? null,
      };
    });
  },

  /** Opens (or shows) the chat with `with`. */
  async openChat({ user, with: other }) {
    const p = page(user);
    await p.evaluate((jid) => window.xboshTest.api.chats.open(jid, {}, true), other);
    await p.waitForSelector(`${chat(other)} textarea.chat-textarea`, { timeout: 30000 });
    return true;
  },

  /**
   * Types a message into the chat with `with` and presses Enter; done once the BOSH request that
   * carries it has gone out (Strophe batches stanzas on an idle timer, so a page closed sooner
   * would lose it before any server could see it).
   */
  async send({ user, with: other, text, settled = false }) {
    const u = users.get(user);
    const p = page(user);
    const area = p.locator(`${chat(other)} textarea.chat-textarea`);
    await area.fill(text);
    const sent = u.ws ? frameSent(u, `>${text}</body>`, 10000)
      : p.waitForRequest((r) => r.url() === u.bosh && (r.postData() ?? '').includes(`>${text}</body>`), { timeout: 10000 });
    await area.press('Enter');
    const carrier = await sent;
    if (settled && !u.ws) {
      // and until the page holds its next request: the answer to the one that carried the message
      // has come back (the server holds it until something arrives, here the receipt)
      const rid = ridOf(carrier);
      await p.waitForRequest((r) => r.url() === u.bosh && ridOf(r) > rid, { timeout: 30000 });
    }
    // Converse empties the field once it has taken the message
    await p.waitForFunction((sel) => document.querySelector(sel)?.value === '', `${chat(other)} textarea.chat-textarea`,
      { timeout: 10000 });
    return true;
  },

  /** The texts of the messages on screen in the chat with `with`, top to bottom. */
  async shown({ user, with: other }) {
    return page(user).$$eval(`${chat(other)} .chat-content .chat-msg .chat-msg__text`,
      (els) => els.map((e) => e.textContent.trim()));
  },

  /** The terminate bodies the page received so far. */
  async terminations({ user }) {
    const u = users.get(user);
    if (!u) throw new Error(`no page for ${user}`);
    return u.terminations;
  },

  /** Converse's view of a contact's presence (what the roster shows). */
  async presence({ user, of }) {
    return page(user).evaluate(async (jid) => (await window.xboshTest.api.contacts.get(jid))?.getStatus() ?? null, of);
  },

  /** Reloads the page (Converse's keepalive attaches to the stored BOSH session). */
  async reload({ user }) {
    const p = page(user);
    await p.reload({ waitUntil: 'load' });
    return true;
  },

  async screenshot({ user, path }) {
    await page(user).screenshot({ path, fullPage: true });
    return true;
  },
};

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

reply({ ready: true, origin });

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let msg;
    try {
      msg = JSON.parse(line);
      const value = await commands[msg.cmd](msg);
      reply({ id: msg.id, ok: true, value });
    } catch (e) {
      reply({ id: msg?.id ?? null, ok: false, error: String(e?.stack ?? e) });
    }
  });
});
lines.on('close', async () => {
  await queue;
  await shutdown();
});

let closing;
function shutdown() {
  closing ??= (async () => {
    try {
      await browser.close();
    } finally {
      server.close();
      log.end();
      process.exit(0);
    }
  })();
  return closing;
}
process.on('SIGTERM', shutdown);
// the test went away (its end of the pipe closed): close the browser all the same
process.stdout.on('error', shutdown);
process.on('uncaughtException', (e) => {
  log.write(`driver error: ${e?.stack ?? e}\n`);
  shutdown();
});
