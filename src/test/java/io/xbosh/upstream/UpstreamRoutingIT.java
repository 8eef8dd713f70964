package io.xbosh.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.xbosh.Xbosh;
import io.xbosh.config.XboshConfig;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.DnsmasqProcess;
import io.xbosh.testing.ProsodyProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Where xbosh connects and how it secures the link (XEP-0124 §7.1, §17.2, §19.2; XEP-0206): route
 * allow-list, DNS SRV through a real dnsmasq, STARTTLS and direct TLS with a real Prosody that
 * requires encryption, and servers that fall short.
 */
class UpstreamRoutingIT {

  static final String B = BoshSession.B;
  static final String X = BoshSession.X;
  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();

  static Path certDir;
  static ProsodyProcess prosody;
  static int directTlsPort;
  static DnsmasqProcess dns;
  static Vertx vertx;
  static NetServer noTlsServer;
  static NetServer redirectingServer;

  @BeforeAll
  static void startAll() throws Exception {
    certDir = io.xbosh.testing.TestCertificate.create().cert().getParent();
    directTlsPort = ProsodyProcess.freePort();
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw"),
        new ProsodyProcess.Tls(certDir.resolve("cert.pem"), certDir.resolve("key.pem"), true, directTlsPort));
    dns = DnsmasqProcess.start(List.of(
        "_xmpp-client._tcp.localhost,localhost," + prosody.c2sPort() + ",0,5",
        "_xmpp-client._tcp.gone.test"));
    vertx = Vertx.vertx();
    // a server that never offers STARTTLS
    noTlsServer = vertx.createNetServer().connectHandler(sock -> sock.handler(buf -> {
      if (buf.toString().contains("<stream:stream")) {
        sock.write("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
            + " id='n1' from='localhost' version='1.0'><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
            + "<mechanism>PLAIN</mechanism></mechanisms></stream:features>");
      }
    })).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    // a server that sends every client to Prosody
    redirectingServer = vertx.createNetServer().connectHandler(sock -> sock.handler(buf -> {
      if (buf.toString().contains("<stream:stream")) {
        sock.end(io.vertx.core.buffer.Buffer.buffer("<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
            + " xmlns:stream='http://etherx.jabber.org/streams' id='r1' from='localhost' version='1.0'><stream:error>"
            + "<see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>127.0.0.1:" + prosody.c2sPort() + "</see-other-host>"
            + "</stream:error></stream:stream>"));
      }
    })).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stopAll() throws Exception {
    if (vertx != null) {
      vertx.close().await(20, TimeUnit.SECONDS);
    }
    if (dns != null) {
      dns.close();
    }
    if (prosody != null) {
      prosody.close();
    }
    if (certDir != null) {
      try (var files = Files.walk(certDir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  interface WithXbosh {
    void run(URI uri) throws Exception;
  }

  static void withXbosh(Map<String, String> extra, WithXbosh test) throws Exception {
    Map<String, String> env = new HashMap<>(Map.of(
        "XBOSH_HTTP_HOST", "127.0.0.1",
        "XBOSH_HTTP_PORT", "0",
        "XBOSH_EVENT_LOOPS", "1",
        "XBOSH_NODE_ID", "routing-pod",
        "XBOSH_CONNECT_TIMEOUT_MS", "5000",
        "XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
        "XBOSH_UPSTREAM_TRUST", certDir.resolve("cert.pem").toString()));
    env.putAll(extra);
    Xbosh xbosh = Xbosh.start(vertx, XboshConfig.from(io.xbosh.testing.OneClientAddress.withLimitsOff(env))).await(20, TimeUnit.SECONDS);
    try {
      test.run(URI.create("http://127.0.0.1:" + xbosh.port() + "/http-bind"));
    } finally {
      xbosh.stop().await(20, TimeUnit.SECONDS);
    }
  }

  static HttpResponse<String> create(URI uri, String to, String extraAttributes) throws Exception {
    return BoshSession.post(http, uri, "<body " + B + " " + X + " rid='100' to='" + to + "' xml:lang='en' wait='5' hold='1'"
        + " ver='1.11' xmpp:version='1.0' " + extraAttributes + "/>");
  }

  static void assertCondition(HttpResponse<String> r, String condition) {
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).contains("type=\"terminate\"").contains("condition=\"" + condition + "\"");
  }

  static void assertLogsIn(URI uri) throws Exception {
    BoshSession s = BoshSession.login(http, List.of(uri), "localhost", "alice", "alicepw", "r" + System.nanoTime());
    assertThat(BoshSession.pingResult(s, "localhost", "p1")).contains("type=\"result\"");
  }

  /** Creates a session and checks what the client learns of the link: secure or not, never STARTTLS. */
  static String assertCreatedWithSecure(URI uri, boolean secure) throws Exception {
    String body = create(uri, "localhost", "").body();
    assertThat(BoshSession.attr(body, "secure")).isEqualTo(Boolean.toString(secure));
    assertThat(body).contains("<stream:features").doesNotContain("starttls");
    return body;
  }

  // ---- upstream TLS

  @Test
  void b61_b92_b19_starttlsWithTheServerBeforeTheClientSeesFeatures() throws Exception {
    withXbosh(Map.of("XBOSH_UPSTREAM_TLS", "required"), uri -> {
      assertThat(assertCreatedWithSecure(uri, true)).contains("<mechanism>PLAIN</mechanism>");
      // this Prosody refuses unencrypted clients: logging in proves the link is TLS
      assertLogsIn(uri);
    });
  }

  @Test
  void b92_directTlsFromTheFirstByte() throws Exception {
    withXbosh(Map.of("XBOSH_UPSTREAM_TLS", "direct", "XBOSH_UPSTREAM", "127.0.0.1:" + directTlsPort), uri -> {
      assertThat(BoshSession.attr(create(uri, "localhost", "").body(), "secure")).isEqualTo("true");
      assertLogsIn(uri);
    });
  }

  @Test
  void b51_untrustedServerCertificateIsRemoteConnectionFailed() throws Exception {
    Map<String, String> env = new HashMap<>(Map.of("XBOSH_UPSTREAM_TLS", "optional"));
    withXbosh(env, uri -> assertThat(create(uri, "localhost", "").body()).contains("secure=\"true\""));
    // the JVM's trust store does not know this self-signed certificate
    Map<String, String> untrusted = new HashMap<>(Map.of("XBOSH_UPSTREAM_TLS", "optional", "XBOSH_UPSTREAM_TRUST", ""));
    withXbosh(untrusted, uri -> assertCondition(create(uri, "localhost", ""), "remote-connection-failed"));
  }

  @Test
  void b51_tlsRequiredButNotOfferedIsRemoteConnectionFailedOptionalGoesOnPlain() throws Exception {
    String plain = "127.0.0.1:" + noTlsServer.actualPort();
    withXbosh(Map.of("XBOSH_UPSTREAM_TLS", "required", "XBOSH_UPSTREAM", plain),
        uri -> assertCondition(create(uri, "localhost", ""), "remote-connection-failed"));
    withXbosh(Map.of("XBOSH_UPSTREAM_TLS", "optional", "XBOSH_UPSTREAM", plain),
        uri -> assertCreatedWithSecure(uri, false));
  }

  @Test
  void b61_tlsOffRelaysNoStarttlsFeatureToTheClient() throws Exception {
    withXbosh(Map.of("XBOSH_UPSTREAM_TLS", "off"), uri -> assertCreatedWithSecure(uri, false));
  }

  @Test
  void b54_seeOtherHostFollowedWhenAdmittedElseRelayedAsRemoteStreamError() throws Exception {
    String redirecting = "127.0.0.1:" + redirectingServer.actualPort();
    withXbosh(Map.of("XBOSH_UPSTREAM_TLS", "required", "XBOSH_UPSTREAM", redirecting,
        "XBOSH_ROUTE_ALLOW", "127.0.0.1:" + prosody.c2sPort()), UpstreamRoutingIT::assertLogsIn);
    withXbosh(Map.of("XBOSH_UPSTREAM", redirecting), uri -> {
      HttpResponse<String> refused = create(uri, "localhost", "");
      assertCondition(refused, "remote-stream-error");
      assertThat(refused.body()).contains("<see-other-host xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\">127.0.0.1:" + prosody.c2sPort());
    });
  }

  // ---- route and to

  @Test
  void b15_x02_routeHonouredOnlyInsideTheAllowList() throws Exception {
    String admitted = "127.0.0.1:" + prosody.c2sPort();
    withXbosh(Map.of("XBOSH_ROUTE_ALLOW", admitted, "XBOSH_UPSTREAM", "127.0.0.1:1"), uri -> {
      // the default server is unreachable: only the admitted route can work
      assertThat(create(uri, "localhost", "route='xmpp:" + admitted + "'").body()).contains("<stream:features").doesNotContain("type=");
      assertCondition(create(uri, "localhost", "route='xmpp:127.0.0.1:6379'"), "host-unknown");
      assertCondition(create(uri, "localhost", "route='xmpp:10.0.0.1:" + prosody.c2sPort() + "'"), "host-unknown");
      for (String malformed : List.of("127.0.0.1:5222", "http://127.0.0.1:5222/", "xmpp:127.0.0.1", "xmpp:host:99999",
          "xmpp:a b:5222", "xmpp:127.0.0.1:-1", "")) {
        assertCondition(create(uri, "localhost", "route='" + malformed + "'"), "improper-addressing");
      }
      assertCondition(create(uri, "localhost", "route='xmpp:" + "a".repeat(400) + ":5222'"), "bad-request");
      assertCondition(create(uri, "localhost", "route='xmpp:" + admitted + "' route='xmpp:" + admitted + "'"), "bad-request");
    });
    // without an allow-list the route is ignored: the configured server is used
    withXbosh(Map.of(), uri -> assertThat(create(uri, "localhost", "route='xmpp:127.0.0.1:1'").body()).doesNotContain("type="));
  }

  @Test
  void b15_domainsFromSrvRecordsThenPort5222AndTheDomainAllowList() throws Exception {
    withXbosh(Map.of("XBOSH_UPSTREAM", "srv", "XBOSH_DNS_SERVER", "127.0.0.1:" + dns.port(),
        "XBOSH_DOMAINS", "localhost,gone.test,nosrv.invalid"), uri -> {
      // _xmpp-client._tcp.localhost names Prosody's port
      assertLogsIn(uri);
      // a "." target: no XMPP service there
      assertCondition(create(uri, "gone.test", ""), "host-unknown");
      // no SRV record: nosrv.invalid:5222, which does not resolve
      assertCondition(create(uri, "nosrv.invalid", ""), "remote-connection-failed");
      // not in the domain allow-list: never looked up
      assertCondition(create(uri, "example.org", ""), "host-unknown");
      assertCondition(create(uri, "", ""), "improper-addressing");
    });
  }
}
