// Strophe.js clients in Node for StropheClients.java: one JSON command a line on stdin, one JSON
// event a line on stdout. argv[2]: the directory whose node_modules hold strophe.js and its peers.
// A "bosh" service URL starting ws:// or wss:// makes Strophe use its RFC 7395 WebSocket transport.
'use strict';
const path = require('path');
const readline = require('readline');
const { createRequire } = require('module');
const req = createRequire(path.join(process.argv[2], 'package.json'));

const xmldom = req('@xmldom/xmldom');
globalThis.DOMParser = globalThis.DOMParser || xmldom.DOMParser;
globalThis.XMLSerializer = globalThis.XMLSerializer || xmldom.XMLSerializer;
globalThis.document = globalThis.document || new xmldom.DOMImplementation().createDocument(null, null, null);
const XHR2 = req('xhr2');
// xhr2 has no responseXML: Strophe's BOSH transport needs it, parsed from the text
class XHR extends XHR2 {
  get responseXML() {
    const t = this.responseText;
    return t ? new globalThis.DOMParser().parseFromString(t, 'text/xml') : null;
  }
}
globalThis.XMLHttpRequest = XHR;
// Node 20 has no global WebSocket: the pinned `ws` package is the one Strophe's WebSocket transport uses
globalThis.WebSocket = globalThis.WebSocket || req('ws');
const { Strophe, $msg, $iq } = req('strophe.js');

const statusName = {};
for (const [k, v] of Object.entries(Strophe.Status)) statusName[v] = k;
const conns = {};
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function connect(c, cmd) {
  const options = { keepalive: false };
  // only these SASL mechanisms, by name (e.g. ["PLAIN"]); Strophe's whole list otherwise
  if (cmd.mechanisms) options.mechanisms = cmd.mechanisms.map((m) => Object.values(Strophe).find((v) => v && v.prototype && v.prototype instanceof Strophe.SASLMechanism && new v().mechname === m));
  const conn = new Strophe.Connection(cmd.bosh, options);
  conns[c] = conn;
  conn.addHandler((m) => {
    const body = m.getElementsByTagName('body')[0];
    const children = [];
    for (let n = m.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) children.push(n.localName || n.nodeName);
    out({ ev: 'message', c, from: m.getAttribute('from'), to: m.getAttribute('to'), id: m.getAttribute('id'),
      type: m.getAttribute('type'), body: body ? Strophe.getText(body) : null, children });
    return true;
  }, null, 'message');
  // what a terminate body carried: Strophe ends the connection on it without reading its stanzas
  conn.xmlInput = (body) => {
    if (body && body.getAttribute && body.getAttribute('type') === 'terminate') {
      const ids = [];
      for (let n = body.firstChild; n; n = n.nextSibling) {
        if (n.nodeType === 1 && (n.localName || n.nodeName) === 'message') ids.push(n.getAttribute('id'));
      }
      out({ ev: 'terminate', c, condition: body.getAttribute('condition'), ids });
    }
  };
  // the SASL mechanism the client chose, from its <auth/> (a WebSocket frame, or a child of a BOSH body)
  conn.xmlOutput = (el) => {
    const auths = el && (el.localName || el.nodeName) === 'auth' ? [el] : (el && el.getElementsByTagName ? Array.from(el.getElementsByTagName('auth')) : []);
    for (const a of auths) out({ ev: 'auth', c, mechanism: a.getAttribute('mechanism') });
  };
  conn.connect(cmd.jid, cmd.password, (status, condition) => {
    out({ ev: 'status', c, status: statusName[status], condition: condition || null, jid: conn.jid || null });
  }, cmd.wait || 10, cmd.hold || 1);
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let cmd;
  try { cmd = JSON.parse(line); } catch (e) { out({ ev: 'error', error: 'bad command ' + line }); return; }
  const conn = conns[cmd.c];
  try {
    switch (cmd.op) {
      case 'connect': connect(cmd.c, cmd); break;
      case 'send':
        conn.send($msg({ to: cmd.to, type: 'chat', id: cmd.id }).c('body').t(cmd.body));
        out({ ev: 'sent', c: cmd.c, id: cmd.id });
        break;
      case 'iq': {
        const iq = $iq({ type: cmd.type, to: cmd.to }).c(cmd.name, { xmlns: cmd.xmlns });
        conn.sendIQ(iq, (r) => out({ ev: 'iq', c: cmd.c, tag: cmd.tag, type: r.getAttribute('type'), xml: Strophe.serialize(r) }),
          (r) => out({ ev: 'iq', c: cmd.c, tag: cmd.tag, type: r ? r.getAttribute('type') : 'timeout', xml: r ? Strophe.serialize(r) : null }), 20000);
        break;
      }
      case 'disconnect': conn.disconnect(); break;
      case 'reset': conn.reset(); break;
      default: out({ ev: 'error', error: 'unknown op ' + cmd.op });
    }
  } catch (e) {
    out({ ev: 'error', c: cmd.c, error: String(e && e.stack || e) });
  }
});
out({ ev: 'ready' });
