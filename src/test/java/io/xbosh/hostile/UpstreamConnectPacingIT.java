package io.xbosh.hostile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.xbosh.testing.BoshSession;
import io.xbosh.testing.InProcessXbosh;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * Issue 17.2: upstream connects are paced. An XMPP server that accepts TCP and never answers lets
 * connects pile up until the connect timeout; a pod keeps at most XBOSH_MAX_CONNECTS_IN_FLIGHT of
 * them open at once and answers further creations 503 + Retry-After without opening a socket.
 */
class UpstreamConnectPacingIT {

  private static final String B = "xmlns='http://jabber.org/protocol/httpbind'";

  /** Accepts connections, reads nothing, sends nothing. */
  private static final class SilentServer implements AutoCloseable {
    final ServerSocket listener;
    final List<Socket> accepted = new CopyOnWriteArrayList<>();

    SilentServer() throws Exception {
      listener = new ServerSocket();
      listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      Thread t = new Thread(() -> {
        try {
          while (true) {
            accepted.add(listener.accept());
          }
        } catch (Exception closed) {
          // the listener closed
        }
      }, "silent-xmpp-server");
      t.setDaemon(true);
      t.start();
    }

    void dropAll() throws Exception {
      for (Socket s : accepted) {
        s.close();
      }
    }

    @Override
    public void close() throws Exception {
      listener.close();
      dropAll();
    }
  }

  @Test
  void connectsInFlightAreCappedPerPodAndTheRestAreRefusedWithRetryAfter() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    try (SilentServer server = new SilentServer();
        InProcessXbosh xbosh = InProcessXbosh.start(Map.of(
            "XBOSH_MAX_CONNECTS_IN_FLIGHT", "3",
            "XBOSH_CONNECT_TIMEOUT_MS", "120000",
            "XBOSH_UPSTREAM_HOSTS", "silent.test=127.0.0.1:" + server.listener.getLocalPort(),
            "XBOSH_DOMAINS", "silent.test"))) {
      URI uri = xbosh.endpoint();
      String create = "<body " + B + " rid='1' to='silent.test' wait='5' hold='1' ver='1.11'/>";
      List<CompletableFuture<HttpResponse<String>>> hanging = new CopyOnWriteArrayList<>();
      for (int i = 0; i < 3; i++) {
        hanging.add(postAsync(http, uri, create));
      }
      await().atMost(Duration.ofSeconds(30)).until(() -> server.accepted.size() == 3);

      // the fourth and fifth are refused before any socket is opened: the client retries later
      for (int i = 0; i < 2; i++) {
        HttpResponse<String> refused = BoshSession.post(http, uri, create);
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
        assertThat(refused.headers().firstValue("retry-after")).hasValue("1");
        assertThat(refused.body()).contains("type=\"error\"");
      }
      assertThat(server.accepted).hasSize(3);
      assertThat(hanging).noneMatch(CompletableFuture::isDone);

      // the server drops them: those creations fail, and their slots come back
      server.dropAll();
      for (CompletableFuture<HttpResponse<String>> h : hanging) {
        HttpResponse<String> failed = h.get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(failed.body()).contains("remote-connection-failed");
      }
      CompletableFuture<HttpResponse<String>> again = postAsync(http, uri, create);
      await().atMost(Duration.ofSeconds(30)).until(() -> server.accepted.size() == 4);
      assertThat(again).isNotDone();
    }
  }

  private static CompletableFuture<HttpResponse<String>> postAsync(HttpClient http, URI uri, String body) {
    return http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(60))
        .header("Content-Type", "text/xml; charset=utf-8")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
