package io.xbosh.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.SocketAddress;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.Forward;
import io.xbosh.session.SessionStore.Delivery;
import io.xbosh.testing.StalledXmppServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A session's links on the owner: forwards in order, backpressure toward the server, one closing report. */
class SessionLinksTest {

  static Vertx vertx;
  static NetClient client;

  @BeforeAll
  static void startVertx() {
    vertx = Vertx.vertx();
    client = vertx.createNetClient();
  }

  @AfterAll
  static void stopVertx() throws Exception {
    vertx.close().await(20, TimeUnit.SECONDS);
  }

  /** What the links report to the pod. */
  static final class RecordingOwner implements SessionLinks.Owner {
    final List<String> events = new CopyOnWriteArrayList<>();

    @Override
    public Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas) {
      events.add("deliver " + String.join("", stanzas));
      return Future.succeededFuture(new Delivery(Delivery.Status.OK, List.of()));
    }

    @Override
    public Future<Void> ended(String sid, String stream, TerminateCondition condition, String children) {
      events.add("ended " + (condition == null ? "clean" : condition.wireName()));
      return Future.succeededFuture();
    }

    @Override
    public void failed(String sid, TerminateCondition condition) {
      events.add("failed " + condition.wireName());
    }

    @Override
    public void closed(SessionLinks links) {
      events.add("closed");
    }
  }

  static UpstreamLink openLink(SocketAddress address) throws Exception {
    UpstreamLink link = new UpstreamLink(vertx, vertx.getOrCreateContext(), "sid1", null, UpstreamLinkTest.PARAMS,
        new UpstreamLink.Limits(65536, 1000, 1 << 20));
    CompletableFuture<StreamOpened> f = new CompletableFuture<>();
    link.context().runOnContext(v -> link.open(client, address, 5000, UpstreamSecurity.OFF).onComplete(ar -> {
      if (ar.succeeded()) {
        f.complete(ar.result());
      } else {
        f.completeExceptionally(ar.cause());
      }
    }));
    f.get(10, TimeUnit.SECONDS);
    return link;
  }

  static SessionLinks links(UpstreamLink first, RecordingOwner owner) {
    SessionLinks links = new SessionLinks("sid1", null, first, null, owner, () -> null);
    links.start();
    return links;
  }

  static Forward payload(long seq, String payload) {
    return new Forward(seq, payload, false, false);
  }

  /**
   * A further stream's PROXY header names the client that asked for it, which the request carries
   * through the store (it may have reached another pod); a request without it falls back to the
   * address that began the session.
   */
  @Test
  void aFurtherStreamsProxyHeaderCarriesTheAddressOfTheClientThatOpenedIt() throws Exception {
    try (FakeXmppServer first = new FakeXmppServer(vertx, ""); FakeXmppServer second = new FakeXmppServer(vertx, "");
        FakeXmppServer third = new FakeXmppServer(vertx, "")) {
      List<SocketAddress> next = new CopyOnWriteArrayList<>(List.of(second.address(), third.address()));
      UpstreamResolver resolver = (domain, route) -> Future.succeededFuture(List.of(next.remove(0)));
      Connector connector = new Connector(vertx, resolver, client, new Connector.Settings(65536, 1000, 1 << 20, 5000,
          UpstreamSecurity.OFF, io.xbosh.config.XboshConfig.ProxyProtocol.V1), new ConnectGate(100));
      UpstreamLink link = new UpstreamLink(vertx, vertx.getOrCreateContext(), "sid1", null, UpstreamLinkTest.PARAMS,
          new UpstreamLink.Limits(65536, 1000, 1 << 20), StreamReader.BODY_SCOPE, "192.0.2.1");
      CompletableFuture<StreamOpened> opened = new CompletableFuture<>();
      link.context().runOnContext(v -> link.open(client, first.address(), 5000, UpstreamSecurity.OFF,
          io.xbosh.config.XboshConfig.ProxyProtocol.V1).onComplete(ar -> opened.complete(ar.result())));
      opened.get(10, TimeUnit.SECONDS);
      assertThat(first.received()).startsWith("PROXY TCP4 192.0.2.1 127.0.0.1 0 ");
      RecordingOwner owner = new RecordingOwner();
      SessionLinks links = new SessionLinks("sid1", "s1", link, connector, owner, () -> null);
      links.start();
      links.forward(List.of(
          new Forward(1, new io.xbosh.session.StreamRequest(" from=\"fake.test\"", "fake.test", "en", null, null, "2001:db8::7").encode(),
              false, false, true, "s2")));
      await().atMost(Duration.ofSeconds(10)).until(() -> second.received().contains("<stream:stream"));
      assertThat(second.received()).startsWith("PROXY TCP6 2001:db8::7 ::ffff:127.0.0.1 0 ");
      // written by a pod that did not carry the address: the session's own
      links.forward(List.of(
          new Forward(2, new io.xbosh.session.StreamRequest(" from=\"fake.test\"", "fake.test", "en", null, null).encode(),
              false, false, true, "s3")));
      await().atMost(Duration.ofSeconds(10)).until(() -> third.received().contains("<stream:stream"));
      assertThat(third.received()).startsWith("PROXY TCP4 192.0.2.1 127.0.0.1 0 ");
      link.abort();
    }
  }

  @Test
  void forwardsArriveInAnyOrderAndReachTheServerInOrder() throws Exception {
    try (FakeXmppServer server = new FakeXmppServer(vertx, "")) {
      RecordingOwner owner = new RecordingOwner();
      SessionLinks links = links(openLink(server.address()), owner);
      links.forward(List.of(payload(3, "<c/>"), payload(1, "<a/>")));
      links.forward(List.of(payload(2, "<b/>"), payload(1, "<a/>")));
      await().atMost(Duration.ofSeconds(10)).until(() -> server.received().contains("<c/>"));
      assertThat(server.received()).endsWith("<a/><b/><c/>");
    }
  }

  @Test
  void everyLinkClosedIsReportedOnceWithTheEndBeforeIt() throws Exception {
    try (FakeXmppServer server = new FakeXmppServer(vertx, "")) {
      RecordingOwner owner = new RecordingOwner();
      links(openLink(server.address()), owner);
      server.writeAndClose("<message><body>bye</body></message><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
          + "</stream:error></stream:stream>");
      await().atMost(Duration.ofSeconds(10)).until(() -> owner.events.contains("closed"));
      assertThat(owner.events).containsExactly("deliver <message xmlns=\"jabber:client\"><body>bye</body></message>",
          "ended remote-stream-error", "closed");
    }
  }

  @Test
  void aServerThatStopsReadingMakesTheSessionCongestedAndNothingIsLostWhenItReadsAgain() throws Exception {
    // 16.5: backpressure toward the XMPP server
    try (StalledXmppServer server = new StalledXmppServer()) {
      RecordingOwner owner = new RecordingOwner();
      UpstreamLink link = openLink(SocketAddress.inetSocketAddress(server.port(), "127.0.0.1"));
      SessionLinks links = links(link, owner);
      String chunk = "x".repeat(16 * 1024);
      AtomicInteger written = new AtomicInteger();
      CompletableFuture<Integer> congestedAfter = new CompletableFuture<>();
      link.context().runOnContext(v -> {
        // on the links' loop forwards apply at once: write until the socket is full
        for (int i = 1; i <= 4000; i++) {
          links.forward(List.of(payload(i, "<message id='" + i + "'><body>" + chunk + "</body></message>")));
          written.set(i);
          if (links.congested()) {
            congestedAfter.complete(i);
            return;
          }
        }
        congestedAfter.complete(-1);
      });
      int first = congestedAfter.get(30, TimeUnit.SECONDS);
      assertThat(first).as("forwards written before the socket was full").isPositive();
      // more payloads wait in order, other pods' payloads wait in the store
      int more = 10;
      List<Forward> waiting = new ArrayList<>();
      for (int i = first + 1; i <= first + more; i++) {
        waiting.add(payload(i, "<message id='" + i + "'><body>" + chunk + "</body></message>"));
      }
      links.forward(waiting);
      AtomicInteger drains = new AtomicInteger();
      links.drainWhenWritable(drains::incrementAndGet);
      // while the server does not read: nothing more goes out and the drain waits
      int before = server.received().length();
      await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
          .until(() -> links.congested() && drains.get() == 0 && server.received().length() == before);
      assertThat(owner.events).isEmpty();
      server.startReading();
      String last = "<message id='" + (first + more) + "'>";
      await().atMost(Duration.ofSeconds(30)).until(() -> server.received().contains(last));
      await().atMost(Duration.ofSeconds(10)).until(() -> drains.get() == 1);
      assertThat(links.congested()).isFalse();
      String all = server.received();
      int at = -1;
      for (int i = 1; i <= first + more; i++) {
        int next = all.indexOf("<message id='" + i + "'>");
        assertThat(next).as("payload %d in order", i).isGreaterThan(at);
        at = next;
      }
      assertThat(owner.events).doesNotContain("failed remote-connection-failed");
    }
  }

  @Test
  void payloadsBeyondTheWaitingBoundWhileTheServerIsNotReadingEndTheSession() throws Exception {
    try (StalledXmppServer server = new StalledXmppServer()) {
      RecordingOwner owner = new RecordingOwner();
      UpstreamLink link = openLink(SocketAddress.inetSocketAddress(server.port(), "127.0.0.1"));
      SessionLinks links = links(link, owner);
      String chunk = "y".repeat(16 * 1024);
      CompletableFuture<Integer> done = new CompletableFuture<>();
      link.context().runOnContext(v -> {
        int i = 1;
        while (!links.congested() && i < 4000) {
          links.forward(List.of(payload(i, "<m>" + chunk + "</m>")));
          i++;
        }
        for (int j = 0; j <= SessionLinks.MAX_BLOCKED_FORWARDS; j++, i++) {
          links.forward(List.of(payload(i, "<m/>")));
        }
        done.complete(i);
      });
      done.get(30, TimeUnit.SECONDS);
      await().atMost(Duration.ofSeconds(10)).until(() -> owner.events.contains("failed remote-connection-failed"));
      assertThat(owner.events).containsOnlyOnce("failed remote-connection-failed");
    }
  }
}
