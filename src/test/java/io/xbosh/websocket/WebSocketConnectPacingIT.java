package io.xbosh.websocket;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocketClient;
import io.xbosh.testing.InProcessXbosh;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * Issue 17.2 for XMPP over WebSocket, which does not pass the BOSH creation limits: an
 * {@code <open/>} beyond XBOSH_MAX_CONNECTS_IN_FLIGHT connects still opening gets
 * {@code remote-connection-failed} at once, without a socket to the server.
 */
class WebSocketConnectPacingIT {

  @Test
  void anOpenBeyondTheConnectsInFlightFailsAtOnce() throws Exception {
    List<Socket> accepted = new CopyOnWriteArrayList<>();
    Vertx vertx = Vertx.vertx();
    try (ServerSocket silent = new ServerSocket()) {
      silent.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      Thread t = new Thread(() -> {
        try {
          while (true) {
            accepted.add(silent.accept());
          }
        } catch (Exception closed) {
          // the listener closed
        }
      }, "silent-xmpp-server");
      t.setDaemon(true);
      t.start();
      WebSocketClient client = vertx.createWebSocketClient();
      try (InProcessXbosh pod = InProcessXbosh.start(Map.of("XBOSH_MAX_CONNECTS_IN_FLIGHT", "2",
              "XBOSH_CONNECT_TIMEOUT_MS", "120000", "XBOSH_WS_PING_SECONDS", "0",
              "XBOSH_UPSTREAM_HOSTS", "silent.test=127.0.0.1:" + silent.getLocalPort(), "XBOSH_DOMAINS", "silent.test"));
          WsClient a = WsClient.connect(client, WsClient.options(pod.port(), "/xmpp-websocket"));
          WsClient b = WsClient.connect(client, WsClient.options(pod.port(), "/xmpp-websocket"));
          WsClient c = WsClient.connect(client, WsClient.options(pod.port(), "/xmpp-websocket"))) {
        a.send(WsClient.open("silent.test"));
        b.send(WsClient.open("silent.test"));
        await().atMost(Duration.ofSeconds(30)).until(() -> accepted.size() == 2);
        c.send(WsClient.open("silent.test"));
        assertThat(c.until(m -> m.contains("<stream:error") || m.contains("remote-connection-failed")))
            .contains("remote-connection-failed");
        c.awaitClosed();
        assertThat(accepted).hasSize(2);
        assertThat(a.isClosed()).isFalse();
      }
    } finally {
      for (Socket s : accepted) {
        s.close();
      }
      vertx.close().toCompletionStage().toCompletableFuture().get();
    }
  }
}
