package io.xbosh.websocket;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.Vertx;
import io.vertx.core.http.UpgradeRejectedException;
import io.vertx.core.http.WebSocketClient;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** SIGTERM with WebSocket streams open: see-other-uri at once, or system-shutdown after the drain time. */
class WebSocketDrainIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;
  private static ProsodyProcess prosody;
  private static Vertx vertx;
  private static WebSocketClient client;

  @BeforeAll
  static void start() throws Exception {
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw"));
    vertx = Vertx.vertx();
    client = vertx.createWebSocketClient();
  }

  @AfterAll
  static void stop() throws Exception {
    if (vertx != null) {
      WsClient.await(vertx.close());
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  private static InProcessXbosh pod(Map<String, String> extra) throws Exception {
    Map<String, String> env = new HashMap<>(extra);
    env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
    return InProcessXbosh.start(env);
  }

  @Test
  void w07_drainSendsCloseWithSeeOtherUriAtOnceAndRefusesNewHandshakes() throws Exception {
    String other = "wss://chat.example.org/xmpp-websocket";
    InProcessXbosh xbosh = pod(Map.of("XBOSH_WS_SEE_OTHER_URI", other, "XBOSH_DRAIN_SECONDS", "30"));
    try (WsClient c = WsClient.connect(client, WsClient.options(xbosh.port(), "/xmpp-websocket"))) {
      c.login(DOMAIN, "alice", "alicepw", "drain1");
      long started = System.nanoTime();
      var drained = xbosh.xbosh().drainAndStop();
      String close = c.until(m -> m.startsWith("<close"));
      assertThat(close).isEqualTo("<close xmlns=\"" + WsClient.FRAMING + "\" see-other-uri=\"" + other + "\"/>");
      // the pod is leaving: a new handshake is turned away (the load balancer's next pod takes it)
      assertThatThrownBy(() -> WsClient.connect(client, WsClient.options(xbosh.port(), "/xmpp-websocket")))
          .isInstanceOf(ExecutionException.class).cause().isInstanceOf(UpgradeRejectedException.class)
          .satisfies(e -> assertThat(((UpgradeRejectedException) e).getStatus()).isEqualTo(503));
      c.send("<close xmlns='" + WsClient.FRAMING + "'/>");
      c.awaitClosed();
      // no stream is left, so the drain does not wait its 30 s
      WsClient.await(drained);
      assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started)).isLessThan(20);
    } finally {
      xbosh.close();
    }
  }

  @Test
  void w07_withoutSeeOtherUriTheStreamLastsTheDrainThenGetsSystemShutdown() throws Exception {
    InProcessXbosh xbosh = pod(Map.of("XBOSH_DRAIN_SECONDS", "1"));
    try (WsClient c = WsClient.connect(client, WsClient.options(xbosh.port(), "/xmpp-websocket"))) {
      c.login(DOMAIN, "alice", "alicepw", "drain2");
      var drained = xbosh.xbosh().drainAndStop();
      // while draining the stream still works: an XMPP ping to the server is answered
      c.send("<iq xmlns='jabber:client' type='get' id='p1' to='" + DOMAIN + "'><ping xmlns='urn:xmpp:ping'/></iq>");
      assertThat(c.until(m -> m.contains("id=\"p1\""))).contains("type=\"result\"");
      assertThat(c.until(m -> m.startsWith("<stream:error"))).contains("<system-shutdown ");
      assertThat(c.next()).isEqualTo("<close xmlns=\"" + WsClient.FRAMING + "\"/>");
      c.awaitClosed();
      WsClient.await(drained);
    } finally {
      xbosh.close();
    }
  }
}
