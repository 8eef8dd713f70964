package io.xbosh.websocket;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocketClient;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.TestCertificate;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** WebSocket streams go through the BOSH upstream machinery: STARTTLS done by xbosh, the domain allow-list. */
class WebSocketUpstreamIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;
  private static ProsodyProcess prosody;
  private static InProcessXbosh xbosh;
  private static Vertx vertx;
  private static WebSocketClient client;

  @BeforeAll
  static void start() throws Exception {
    Path certDir = TestCertificate.create().cert().getParent();
    // this Prosody refuses unencrypted clients: logging in proves the link is TLS
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw"),
        new ProsodyProcess.Tls(certDir.resolve("cert.pem"), certDir.resolve("key.pem"), true, 0));
    xbosh = InProcessXbosh.start(Map.of(
        "XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
        "XBOSH_UPSTREAM_TLS", "required",
        "XBOSH_UPSTREAM_TRUST", certDir.resolve("cert.pem").toString(),
        "XBOSH_DOMAINS", DOMAIN));
    vertx = Vertx.vertx();
    client = vertx.createWebSocketClient();
  }

  @AfterAll
  static void stop() throws Exception {
    if (vertx != null) {
      WsClient.await(vertx.close());
    }
    if (xbosh != null) {
      xbosh.close();
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  @Test
  void w11_starttlsWithTheServerIsXboshsAndNeverOfferedToTheClient() throws Exception {
    try (WsClient c = WsClient.connect(client, WsClient.options(xbosh.port(), "/xmpp-websocket"))) {
      // login() checks that neither the first nor the restarted features mention starttls
      c.login(DOMAIN, "alice", "alicepw", "tls");
      c.send("<iq xmlns='jabber:client' type='get' id='p1' to='" + DOMAIN + "'><ping xmlns='urn:xmpp:ping'/></iq>");
      assertThat(c.until(m -> m.contains("id=\"p1\""))).contains("type=\"result\"");
    }
  }

  @Test
  void w05_w11_aDomainOutsideTheAllowListIsHostUnknownWithoutAnyConnection() throws Exception {
    try (WsClient c = WsClient.connect(client, WsClient.options(xbosh.port(), "/xmpp-websocket"))) {
      c.send(WsClient.open("elsewhere.example"));
      assertThat(c.next()).startsWith("<open ");
      assertThat(c.next()).isEqualTo("<stream:error xmlns:stream=\"http://etherx.jabber.org/streams\"><host-unknown"
          + " xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>");
      assertThat(c.next()).startsWith("<close ");
      c.awaitClosed();
    }
  }
}
