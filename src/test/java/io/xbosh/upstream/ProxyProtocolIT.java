package io.xbosh.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import io.xbosh.Xbosh;
import io.xbosh.config.XboshConfig;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.ExternalProcess;
import io.xbosh.testing.OneClientAddress;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.TestCertificate;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The BOSH client's address reaches the XMPP server in a PROXY protocol header
 * ({@code XBOSH_UPSTREAM_PROXY_PROTOCOL}): a real HAProxy that requires the header
 * ({@code accept-proxy}) stands in front of a real Prosody and logs the client address it was told;
 * the client reaches xbosh from 127.0.0.2 (through a relay bound there), xbosh itself connects from
 * 127.0.0.1, so the logged address can only have come from the header. Plain and STARTTLS c2s,
 * direct TLS (the header before the handshake), v1 and v2, a forwarded IPv6 address.
 */
class ProxyProtocolIT {

  static final String B = BoshSession.B;
  static final String X = BoshSession.X;
  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
  /** One log line per proxied connection: the client and destination HAProxy took from the header. */
  static final Pattern LOGGED = Pattern.compile("proxied client=(\\S+) dst=(\\S+) frontend=(\\S+)");

  static Path certDir;
  static ProsodyProcess prosody;
  static Haproxy haproxy;
  static Vertx vertx;

  @BeforeAll
  static void startAll() throws Exception {
    certDir = TestCertificate.create().cert().getParent();
    int directTlsPort = ProsodyProcess.freePort();
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw"),
        new ProsodyProcess.Tls(certDir.resolve("cert.pem"), certDir.resolve("key.pem"), true, directTlsPort));
    haproxy = Haproxy.start(prosody.c2sPort(), directTlsPort);
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stopAll() throws Exception {
    if (vertx != null) {
      vertx.close().await(20, TimeUnit.SECONDS);
    }
    if (haproxy != null) {
      haproxy.close();
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

  @Test
  void v2CarriesTheClientsAddressAndALoginWorksEndToEnd() throws Exception {
    withXbosh(Map.of("XBOSH_UPSTREAM_PROXY_PROTOCOL", "v2", "XBOSH_UPSTREAM", "127.0.0.1:" + haproxy.plainPort), uri -> {
      URI from2 = relayFrom("127.0.0.2", uri);
      int before = haproxy.logged().size();
      // Prosody here requires TLS: STARTTLS runs inside the proxied stream
      BoshSession s = BoshSession.login(http, List.of(from2), "localhost", "alice", "alicepw", "pp2");
      assertThat(BoshSession.pingResult(s, "localhost", "pp2-ping")).contains("type=\"result\"");
      await().atMost(Duration.ofSeconds(10)).until(() -> haproxy.logged().size() > before);
      String[] line = haproxy.logged().get(before);
      assertThat(line[0]).isEqualTo("127.0.0.2");
      // the destination is the pod's own end of the connection
      assertThat(line[1]).startsWith("127.0.0.1:");
      assertThat(line[2]).isEqualTo("plain");
    });
  }

  @Test
  void v2BeforeTheHandshakeOfDirectTls() throws Exception {
    withXbosh(Map.of("XBOSH_UPSTREAM_PROXY_PROTOCOL", "v2", "XBOSH_UPSTREAM_TLS", "direct",
        "XBOSH_UPSTREAM", "127.0.0.1:" + haproxy.directPort), uri -> {
      URI from2 = relayFrom("127.0.0.2", uri);
      int before = haproxy.logged().size();
      BoshSession s = BoshSession.login(http, List.of(from2), "localhost", "alice", "alicepw", "pp2tls");
      assertThat(BoshSession.pingResult(s, "localhost", "pp2tls-ping")).contains("type=\"result\"");
      await().atMost(Duration.ofSeconds(10)).until(() -> haproxy.logged().size() > before);
      assertThat(haproxy.logged().get(before)[0]).isEqualTo("127.0.0.2");
      assertThat(haproxy.logged().get(before)[2]).isEqualTo("direct");
    });
  }

  @Test
  void v1CarriesTheClientsAddress() throws Exception {
    withXbosh(Map.of("XBOSH_UPSTREAM_PROXY_PROTOCOL", "v1", "XBOSH_UPSTREAM", "127.0.0.1:" + haproxy.plainPort), uri -> {
      int before = haproxy.logged().size();
      BoshSession s = BoshSession.login(http, List.of(relayFrom("127.0.0.2", uri)), "localhost", "alice", "alicepw", "pp1");
      assertThat(BoshSession.pingResult(s, "localhost", "pp1-ping")).contains("type=\"result\"");
      await().atMost(Duration.ofSeconds(10)).until(() -> haproxy.logged().size() > before);
      assertThat(haproxy.logged().get(before)[0]).isEqualTo("127.0.0.2");
    });
  }

  /** Behind a trusted proxy the address is the one X-Forwarded-For names, IPv6 too (sent with the pod's IPv4 end mapped). */
  @Test
  void aForwardedIpv6AddressWhenForwardedForIsTrusted() throws Exception {
    for (String version : List.of("v2", "v1")) {
      withXbosh(Map.of("XBOSH_UPSTREAM_PROXY_PROTOCOL", version, "XBOSH_TRUST_FORWARDED_FOR", "true",
          "XBOSH_UPSTREAM", "127.0.0.1:" + haproxy.plainPort), uri -> {
        int before = haproxy.logged().size();
        HttpResponse<String> created = http.send(HttpRequest.newBuilder(uri).header("Content-Type", "text/xml; charset=utf-8")
            .header("X-Forwarded-For", "198.51.100.9, 2001:db8::55")
            .POST(HttpRequest.BodyPublishers.ofString("<body " + B + " " + X + " rid='100' to='localhost' xml:lang='en' wait='5'"
                + " hold='1' ver='1.11' xmpp:version='1.0'/>")).build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertThat(created.body()).contains("<mechanism>PLAIN</mechanism>");
        await().atMost(Duration.ofSeconds(10)).until(() -> haproxy.logged().size() > before);
        assertThat(haproxy.logged().get(before)[0]).isEqualTo("2001:db8::55");
        assertThat(haproxy.logged().get(before)[1]).startsWith("::ffff:127.0.0.1:");
      });
    }
  }

  /** Without the setting nothing is sent: the server that requires the header drops the connection. */
  @Test
  void offSendsNoHeader() throws Exception {
    withXbosh(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + haproxy.plainPort, "XBOSH_CONNECT_TIMEOUT_MS", "3000"), uri -> {
      HttpResponse<String> created = BoshSession.post(http, uri, "<body " + B + " " + X + " rid='100' to='localhost' xml:lang='en'"
          + " wait='5' hold='1' ver='1.11' xmpp:version='1.0'/>");
      assertThat(created.body()).contains("type=\"terminate\"").contains("condition=\"remote-connection-failed\"");
    });
  }

  // ---- helpers

  interface WithXbosh {
    void run(URI uri) throws Exception;
  }

  static void withXbosh(Map<String, String> extra, WithXbosh test) throws Exception {
    Map<String, String> env = new HashMap<>(Map.of(
        "XBOSH_HTTP_HOST", "127.0.0.1",
        "XBOSH_HTTP_PORT", "0",
        "XBOSH_EVENT_LOOPS", "1",
        "XBOSH_NODE_ID", "proxy-protocol-pod",
        "XBOSH_CONNECT_TIMEOUT_MS", "5000",
        "XBOSH_UPSTREAM_TRUST", certDir.resolve("cert.pem").toString()));
    env.putAll(extra);
    Xbosh xbosh = Xbosh.start(vertx, XboshConfig.from(OneClientAddress.withLimitsOff(env))).await(20, TimeUnit.SECONDS);
    try {
      test.run(URI.create("http://127.0.0.1:" + xbosh.port() + "/http-bind"));
    } finally {
      xbosh.stop().await(20, TimeUnit.SECONDS);
    }
  }

  /**
   * A TCP relay on 127.0.0.1 whose connections to xbosh come from {@code source}: the JDK's HTTP
   * client cannot pick its local address, so the relay makes xbosh see this client at another address.
   */
  static URI relayFrom(String source, URI target) throws Exception {
    NetClient out = vertx.createNetClient(new NetClientOptions().setLocalAddress(source));
    NetServer relay = vertx.createNetServer().connectHandler(in -> {
      in.pause();
      out.connect(target.getPort(), target.getHost()).onComplete(ar -> {
        if (ar.failed()) {
          in.close();
          return;
        }
        NetSocket o = ar.result();
        in.pipeTo(o);
        o.pipeTo(in);
        in.resume();
      });
    }).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    return URI.create("http://127.0.0.1:" + relay.actualPort() + target.getPath());
  }

  /** HAProxy in TCP mode that requires a PROXY header on both its frontends and logs what it says. */
  static final class Haproxy extends ExternalProcess {

    final int plainPort;
    final int directPort;

    private Haproxy(Path config, int plainPort, int directPort) throws IOException {
      super("haproxy", List.of("haproxy", "-f", config.toString(), "-db", "-V"), Map.of(),
          line -> line.contains("Using epoll() as the polling mechanism"), 20_000);
      this.plainPort = plainPort;
      this.directPort = directPort;
    }

    static Haproxy start(int c2sPort, int directTlsPort) throws IOException {
      int plain = freePort();
      int direct = freePort();
      Path dir = Files.createTempDirectory("xbosh-haproxy");
      Path config = dir.resolve("haproxy.cfg");
      Files.writeString(config, """
          global
            log stdout format raw local0
          defaults
            mode tcp
            log global
            option logasap
            log-format "proxied client=%%ci dst=%%fi:%%fp frontend=%%f"
            timeout connect 5s
            timeout client 60s
            timeout server 60s
          frontend plain
            bind 127.0.0.1:%d accept-proxy
            default_backend prosody
          frontend direct
            bind 127.0.0.1:%d accept-proxy
            default_backend prosody_tls
          backend prosody
            server p 127.0.0.1:%d
          backend prosody_tls
            server p 127.0.0.1:%d
          """.formatted(plain, direct, c2sPort, directTlsPort));
      try {
        return new Haproxy(config, plain, direct);
      } finally {
        // read at start; nothing of it is needed afterwards
        Files.deleteIfExists(config);
        Files.deleteIfExists(dir);
      }
    }

    /** Logged connections so far, in order: {client address, destination, frontend}. */
    List<String[]> logged() {
      Matcher m = LOGGED.matcher(output());
      List<String[]> out = new java.util.ArrayList<>();
      while (m.find()) {
        out.add(new String[] {m.group(1), m.group(2), m.group(3)});
      }
      return out;
    }
  }
}
