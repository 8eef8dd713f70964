// node-xmpp-bosh 0.7.10 as the benchmark runs it: BOSH at /http-bind and its WebSocket (the
// pre-RFC 7395 draft: a <stream:stream> header per message) on one port, every stream sent to
// the benchmark's Prosody. Usage: node server.js PORT C2S_PORT
'use strict';
const util = require('util');
const nxb = require('node-xmpp-bosh');
const lookup = require('node-xmpp-bosh/src/lookup-service.js');

const [port, c2sPort] = process.argv.slice(2).map(Number);

// its WebSocket connector takes no options, so no lookup_service: streams would go to the
// domain's SRV record or port 5222 (and a route's host and port are not used either: it connects
// to the domain at the default port); every stream goes to the domain at the given c2s port
const Lookup = lookup.LookupService;
function Routed(defaultPort, stream, routeFilter) {
  Lookup.call(this, c2sPort, stream, routeFilter);
}
util.inherits(Routed, Lookup);
lookup.LookupService = Routed;

const options = {
  host: '127.0.0.1', port, path: /^\/http-bind(\/+)?$/, logging: 'WARN',
  max_bosh_connections: 2, window_size: 2, default_inactivity: 70, max_inactivity: 160,
  http_socket_keepalive: 60, max_streams_per_session: 8, pidgin_compatible: true,
  max_data_held: 100000, max_xmpp_stanza_size: 500000, http_headers: {}, no_tls_domains: [],
  firewall: { deny: [] }, route_filter: /.*/, lookup_service: Routed,
  trim_default_length: 256, system_info_password: '', websocket_ping_interval: 30,
};
const bosh = nxb.start_bosh(options);
nxb.start_websocket(bosh, options);
console.log(`node-xmpp-bosh listening on ${port}`);
