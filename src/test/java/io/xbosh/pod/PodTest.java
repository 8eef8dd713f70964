package io.xbosh.pod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import io.xbosh.cluster.PodBus;
import io.xbosh.metrics.XboshMetrics;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.Forward;
import io.xbosh.session.InMemorySessionStore;
import io.xbosh.session.SessionRecord;
import io.xbosh.session.SessionStore;
import io.xbosh.upstream.SessionLinks;
import io.xbosh.upstream.UpstreamLink;
import io.xbosh.upstream.UpstreamSecurity;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The pod's part of a session's links: a session whose links are gone never lives on. */
class PodTest {

  static final SessionParams PARAMS = new SessionParams(30, 1, 2, 60, 2, "1.11", "text/xml; charset=utf-8", false,
      "fake.test", "en", null, null);
  static Vertx vertx;
  static NetClient client;
  InMemorySessionStore store;
  Pod pod;

  @BeforeAll
  static void startVertx() {
    vertx = Vertx.vertx();
    client = vertx.createNetClient();
  }

  @AfterAll
  static void stopVertx() throws Exception {
    vertx.close().await(20, TimeUnit.SECONDS);
  }

  @BeforeEach
  void newPod() {
    store = new InMemorySessionStore(1000, 60);
    pod = new Pod(vertx, "pod-a", store, PodBus.LOCAL, new XboshMetrics("pod-a"), 10, 10);
  }

  String createSession(String sid) throws Exception {
    store.create(new SessionRecord(sid, PARAMS, pod.id(), 1)).await(5, TimeUnit.SECONDS);
    assertThat(live(sid)).isTrue();
    return sid;
  }

  boolean live(String sid) throws Exception {
    return store.states(List.of(sid)).await(5, TimeUnit.SECONDS).live().contains(sid);
  }

  /** The final body the session's later requests get. */
  String tombstone(String sid) throws Exception {
    SessionStore.Terminated t = store.terminate(sid, BodyWriter.terminateOpen(TerminateCondition.UNDEFINED_CONDITION), "")
        .await(5, TimeUnit.SECONDS);
    assertThat(t.ended()).as("already ended").isFalse();
    return t.tombstone();
  }

  @Test
  void aForwardNoticeForASessionWithoutLinksEndsIt() throws Exception {
    // 16.1: another pod accepted a payload for this owner, which lost the link
    String sid = createSession("s-notice");
    pod.payloadsWaiting(sid);
    await().atMost(Duration.ofSeconds(5)).until(() -> !live(sid));
    assertThat(tombstone(sid)).contains("condition=\"remote-connection-failed\"");
  }

  @Test
  void aForwardForASessionWithoutLinksEndsIt() throws Exception {
    String sid = createSession("s-forward");
    assertThat(pod.forward(sid, List.of(new Forward(1, "<presence/>", false, false)))).isFalse();
    await().atMost(Duration.ofSeconds(5)).until(() -> !live(sid));
    assertThat(tombstone(sid)).contains("condition=\"remote-connection-failed\"");
    assertThat(pod.forward(sid, List.of())).as("nothing to forward is no sign of a lost link").isTrue();
  }

  @Test
  void aLinkWhoseServerEndedBeforeThePodTookItEndsTheSessionAndIsForgotten() throws Exception {
    // 16.3: the server closes during the create round trip
    CompletableFuture<NetSocket> serverSide = new CompletableFuture<>();
    NetServer server = vertx.createNetServer().connectHandler(sock -> sock.handler(buf -> {
      if (buf.toString().contains("<stream:stream")) {
        sock.write("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
            + " id='p1' from='fake.test' version='1.0'><stream:features/>");
        serverSide.complete(sock);
      }
    })).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    try {
      UpstreamLink link = new UpstreamLink(vertx, vertx.getOrCreateContext(), "s-early", null, PARAMS,
          new UpstreamLink.Limits(65536, 1000, 1 << 20));
      CompletableFuture<Void> opened = new CompletableFuture<>();
      link.context().runOnContext(v -> link.open(client, SocketAddress.inetSocketAddress(server.actualPort(), "127.0.0.1"), 5000,
          UpstreamSecurity.OFF).onComplete(ar -> opened.complete(null)));
      opened.get(10, TimeUnit.SECONDS);
      serverSide.get(10, TimeUnit.SECONDS).end(Buffer.buffer("<message from='x@fake.test'><body>early</body></message>"
          + "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"));
      await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == UpstreamLink.State.ENDING);
      String sid = createSession("s-early");
      pod.own(new SessionLinks(sid, null, link, null, pod, () -> null));
      await().atMost(Duration.ofSeconds(10)).until(() -> pod.ownedSessions() == 0);
      assertThat(pod.owns(sid)).isFalse();
      assertThat(live(sid)).isFalse();
      // the client's first request gets what the server said, then its end
      assertThat(tombstone(sid)).contains("condition=\"remote-stream-error\"").contains("early").contains("<conflict");
    } finally {
      server.close().await(10, TimeUnit.SECONDS);
    }
  }
}
