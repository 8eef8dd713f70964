package io.xbosh.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.Forward;
import io.xbosh.session.SessionStore.Delivery;
import io.xbosh.upstream.UpstreamLink.State;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The link's one state machine against a local server: every way a link ends reports its end at
 * most once and its closing exactly once, after everything the server said before it.
 */
class UpstreamLinkTest {

  static final SessionParams PARAMS = new SessionParams(30, 1, 2, 60, 2, "1.11", "text/xml; charset=utf-8", false,
      "fake.test", "en", null, null);
  static final String ERROR = "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
      + "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>replaced</text></stream:error>";
  static final String ERROR_OUT = "<stream:error><conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>"
      + "<text xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\">replaced</text></stream:error>";

  static Vertx vertx;
  static NetClient client;
  FakeXmppServer server;

  @BeforeAll
  static void startVertx() {
    vertx = Vertx.vertx();
    client = vertx.createNetClient();
  }

  @AfterAll
  static void stopVertx() throws Exception {
    vertx.close().await(20, TimeUnit.SECONDS);
  }

  @AfterEach
  void stopServer() throws Exception {
    if (server != null) {
      server.close();
    }
  }

  static String message(int i) {
    return "<message from='bob@fake.test/r' to='alice@fake.test/web' id='m" + i + "'><body>" + i + "</body></message>";
  }

  static String messageOut(int i) {
    return "<message xmlns=\"jabber:client\" from=\"bob@fake.test/r\" to=\"alice@fake.test/web\" id=\"m" + i + "\"><body>" + i
        + "</body></message>";
  }

  static UpstreamLink link(int maxQueued, int readAheadChars) {
    Context context = vertx.getOrCreateContext();
    return new UpstreamLink(vertx, context, "sid1", null, PARAMS, new UpstreamLink.Limits(65536, maxQueued, readAheadChars));
  }

  static StreamOpened open(UpstreamLink link, FakeXmppServer server) throws Exception {
    CompletableFuture<StreamOpened> f = new CompletableFuture<>();
    link.context().runOnContext(v -> link.open(client, server.address(), 5000, UpstreamSecurity.OFF).onComplete(ar -> {
      if (ar.succeeded()) {
        f.complete(ar.result());
      } else {
        f.completeExceptionally(ar.cause());
      }
    }));
    return f.get(10, TimeUnit.SECONDS);
  }

  UpstreamLink openLink(int maxQueued, int readAheadChars, RecordingSink sink) throws Exception {
    server = new FakeXmppServer(vertx, "");
    UpstreamLink link = link(maxQueued, readAheadChars);
    StreamOpened opened = open(link, server);
    assertThat(opened.id()).isEqualTo("fake1");
    assertThat(link.state()).isEqualTo(State.OPEN);
    if (sink != null) {
      link.attach(sink);
    }
    return link;
  }

  static void onContext(UpstreamLink link, Runnable r) {
    link.context().runOnContext(v -> r.run());
  }

  @Test
  void b54_theServersLastWordsStreamErrorAndCloseInOneReadAllReachTheSinkWhileADeliveryIsInFlight() throws Exception {
    // 16.1: Prosody on a resource conflict; the first delivery is still with the store
    RecordingSink sink = new RecordingSink();
    sink.holdDeliveries = true;
    UpstreamLink link = openLink(1000, 1 << 20, sink);
    server.write(message(1));
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.held.size() == 1);
    server.writeAndClose(message(2) + ERROR + "</stream:stream>");
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() != State.OPEN);
    // the socket is gone before the store answers the first delivery
    await().atMost(Duration.ofSeconds(10)).until(server::closedByPeer);
    sink.holdDeliveries = false;
    sink.held.poll().complete(new Delivery(Delivery.Status.OK, List.of()));
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    assertThat(sink.events).containsExactly(
        "deliver " + messageOut(1),
        "deliver " + messageOut(2),
        "ended remote-stream-error " + ERROR_OUT,
        "closed");
  }

  @Test
  void aServerThatEndsTheStreamBeforeTheLinkIsAttachedIsReportedOnAttach() throws Exception {
    // 16.3: the server closes during the store's create round trip
    UpstreamLink link = openLink(1000, 1 << 20, null);
    server.writeAndClose(message(1) + ERROR + "</stream:stream>");
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.ENDING);
    await().atMost(Duration.ofSeconds(10)).until(server::closedByPeer);
    RecordingSink sink = new RecordingSink();
    link.attach(sink);
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    // the state turns CLOSED before the sink hears of it
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.events.contains("closed"));
    assertThat(sink.events).containsExactly("deliver " + messageOut(1), "ended remote-stream-error " + ERROR_OUT, "closed");
  }

  @Test
  void aConnectionClosedBeforeTheLinkIsAttachedIsRemoteConnectionFailedOnAttach() throws Exception {
    UpstreamLink link = openLink(1000, 1 << 20, null);
    server.socket().close();
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.ENDING);
    RecordingSink sink = new RecordingSink();
    link.attach(sink);
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.events.contains("closed"));
    assertThat(sink.events).containsExactly("ended remote-connection-failed", "closed");
  }

  @Test
  void aLinkAbortedBeforeItIsAttachedSaysItIsClosedOnAttach() throws Exception {
    UpstreamLink link = openLink(1000, 1 << 20, null);
    link.abort();
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    await().atMost(Duration.ofSeconds(10)).until(server::closedByPeer);
    RecordingSink sink = new RecordingSink();
    link.attach(sink);
    await().atMost(Duration.ofSeconds(10)).until(() -> !sink.events.isEmpty());
    assertThat(sink.events).containsExactly("closed");
  }

  @Test
  void aCleanStreamEndIsReportedOnceAndTheLinkClosesItsSide() throws Exception {
    RecordingSink sink = new RecordingSink();
    UpstreamLink link = openLink(1000, 1 << 20, sink);
    server.write(message(1) + "</stream:stream>");
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    // the state turns CLOSED before the sink hears of it
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.events.contains("closed"));
    await().atMost(Duration.ofSeconds(10)).until(server::closedByPeer);
    assertThat(sink.events).containsExactly("deliver " + messageOut(1), "ended clean", "closed");
    assertThat(server.received()).endsWith("</stream:stream>");
  }

  @Test
  void anEndTheStoreCouldNotTakeIsReportedAgainUntilItIs() throws Exception {
    RecordingSink sink = new RecordingSink();
    sink.failEnds.set(2);
    UpstreamLink link = openLink(1000, 1 << 20, sink);
    server.socket().close();
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    // the state turns CLOSED before the sink hears of it
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.events.contains("closed"));
    assertThat(sink.events).containsExactly("ended remote-connection-failed", "ended remote-connection-failed",
        "ended remote-connection-failed", "closed");
  }

  @Test
  void anAbortWhileTheEndIsRetriedStopsTheRetries() throws Exception {
    RecordingSink sink = new RecordingSink();
    sink.failEnds.set(Integer.MAX_VALUE);
    UpstreamLink link = openLink(1000, 1 << 20, sink);
    server.socket().close();
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.count("ended") >= 2);
    link.abort();
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    // the state turns CLOSED before the sink hears of it
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.events.contains("closed"));
    long ends = sink.count("ended");
    // no further report once closed (the back-off is at least 400 ms by now)
    await().during(Duration.ofMillis(1000)).atMost(Duration.ofSeconds(3)).until(() -> sink.count("ended") == ends);
    assertThat(sink.events).endsWith("closed").containsOnlyOnce("closed");
  }

  @Test
  void xmlTheServerShouldNeverSendIsAPolicyViolationAndUndefinedCondition() throws Exception {
    RecordingSink sink = new RecordingSink();
    UpstreamLink link = openLink(1000, 1 << 20, sink);
    server.write("<!-- no comments in a stream -->");
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    // the state turns CLOSED before the sink hears of it
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.events.contains("closed"));
    assertThat(sink.events).containsExactly("ended undefined-condition", "closed");
    await().atMost(Duration.ofSeconds(10)).until(() -> server.received().contains("<policy-violation"));
  }

  @Test
  void theClientsTerminateClosesTheStreamWithoutAnEndToReport() throws Exception {
    RecordingSink sink = new RecordingSink();
    UpstreamLink link = openLink(1000, 1 << 20, sink);
    onContext(link, () -> link.apply(new Forward(1, "<presence type='unavailable'/>", false, true)));
    await().atMost(Duration.ofSeconds(10)).until(() -> server.received().endsWith("<presence type='unavailable'/></stream:stream>"));
    assertThat(link.state()).isEqualTo(State.CLOSING);
    server.writeAndClose("</stream:stream>");
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    // the state turns CLOSED before the sink hears of it
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.events.contains("closed"));
    assertThat(sink.events).containsExactly("closed");
  }

  @Test
  void aGoneSessionBouncesWhatTheLinkHoldsAndClosesWithoutAnEnd() throws Exception {
    RecordingSink sink = new RecordingSink();
    sink.answers.add(Delivery.GONE);
    UpstreamLink link = openLink(1000, 1 << 20, sink);
    server.write(message(1));
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    // the state turns CLOSED before the sink hears of it
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.events.contains("closed"));
    assertThat(sink.events).containsExactly("deliver " + messageOut(1), "closed");
    // XEP-0206 §7: back to its sender as recipient-unavailable
    await().atMost(Duration.ofSeconds(10)).until(() -> server.received().contains("<recipient-unavailable"));
  }

  @Test
  void batchesNeverExceedTheStoresQueueBoundSoASmallBoundCannotLivelock() throws Exception {
    // 16.7: an all-or-nothing store refuses any batch beyond its bound
    RecordingSink sink = new RecordingSink();
    sink.refuseAbove = 3;
    sink.answers.add(Delivery.FULL); // and once the queue is full anyway: the batch is retried
    UpstreamLink link = openLink(3, 1 << 20, sink);
    server.write(IntStream.rangeClosed(1, 10).mapToObj(UpstreamLinkTest::message).collect(Collectors.joining()));
    String all = IntStream.rangeClosed(1, 10).mapToObj(UpstreamLinkTest::messageOut).collect(Collectors.joining());
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.delivered().endsWith(messageOut(10)));
    assertThat(sink.batches).allSatisfy(b -> assertThat(b).hasSizeBetween(1, 3));
    // the refused first batch went again, then the rest in order
    assertThat(sink.batches.get(0)).isEqualTo(sink.batches.get(1));
    assertThat(sink.batches.stream().skip(1).flatMap(List::stream).collect(Collectors.joining())).isEqualTo(all);
    assertThat(link.state()).isEqualTo(State.OPEN);
  }

  @Test
  void aBatchWhoseReplyWasLostGoesAgainAsItWasWithItsTokenWhileNewerStanzasWaitBehindIt() throws Exception {
    // the store applies a token once: the retry must be the same batch under the same token
    RecordingSink sink = new RecordingSink();
    sink.holdDeliveries = true;
    UpstreamLink link = openLink(1000, 1 << 20, sink);
    server.write(message(1));
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.held.size() == 1);
    server.write(message(2) + message(3));
    await().atMost(Duration.ofSeconds(10)).until(() -> link.pendingStanzas() == 2);
    sink.held.poll().fail("connection reset");
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.held.size() == 1);
    sink.holdDeliveries = false;
    sink.held.poll().complete(new Delivery(Delivery.Status.OK, List.of()));
    await().atMost(Duration.ofSeconds(10)).until(() -> sink.batches.size() == 3);
    assertThat(sink.batches).containsExactly(List.of(messageOut(1)), List.of(messageOut(1)), List.of(messageOut(2), messageOut(3)));
    assertThat(sink.tokens.get(1)).isEqualTo(sink.tokens.get(0));
    assertThat(sink.tokens).allSatisfy(t -> assertThat(t).matches("[^\\s=]+:\\d+"));
    String link0 = sink.tokens.get(0).substring(0, sink.tokens.get(0).lastIndexOf(':'));
    long seq0 = Long.parseLong(sink.tokens.get(0).substring(link0.length() + 1));
    assertThat(sink.tokens.get(2)).isEqualTo(link0 + ":" + (seq0 + 1));
  }

  @Test
  void readingPausesAboveTheReadAheadBoundInCharactersAndResumesWithoutLoss() throws Exception {
    // 17.5: bytes, not only counts
    RecordingSink sink = new RecordingSink();
    sink.holdDeliveries = true;
    int readAhead = 4096;
    UpstreamLink link = openLink(1000, readAhead, sink);
    String pad = "p".repeat(500);
    int n = 2000; // 1 MB, far beyond what the link may hold
    StringBuilder all = new StringBuilder();
    StringBuilder expected = new StringBuilder();
    for (int i = 0; i < n; i++) {
      all.append("<message id='").append(i).append("'><body>").append(pad).append("</body></message>");
      expected.append("<message xmlns=\"jabber:client\" id=\"").append(i).append("\"><body>").append(pad).append("</body></message>");
    }
    server.write(all.toString());
    await().atMost(Duration.ofSeconds(10)).until(link::readPaused);
    int held = link.pendingStanzas();
    // at most the bound plus what one read of the socket brought (64 KiB)
    assertThat(held * 530L).isLessThan(readAhead + 65536 + 530L);
    assertThat(held).isLessThan(n - 1);
    sink.holdDeliveries = false;
    sink.held.poll().complete(new Delivery(Delivery.Status.OK, List.of()));
    await().atMost(Duration.ofSeconds(20)).until(() -> sink.delivered().length() == expected.length());
    assertThat(sink.delivered()).isEqualTo(expected.toString());
    assertThat(link.readPaused()).isFalse();
  }

  @Test
  void aServerThatClosesBeforeItsFeaturesFailsTheOpen() throws Exception {
    server = new FakeXmppServer(vertx, "");
    io.vertx.core.net.NetServer closing = vertx.createNetServer().connectHandler(s -> s.handler(b -> s.end(io.vertx.core.buffer.Buffer.buffer(
        FakeXmppServer.HEADER + ERROR + "</stream:stream>")))).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    try {
      UpstreamLink link = link(1000, 1 << 20);
      CompletableFuture<StreamOpened> f = new CompletableFuture<>();
      link.context().runOnContext(v -> link.open(client, io.vertx.core.net.SocketAddress.inetSocketAddress(closing.actualPort(), "127.0.0.1"),
          5000, UpstreamSecurity.OFF).onComplete(ar -> {
            if (ar.succeeded()) {
              f.complete(ar.result());
            } else {
              f.completeExceptionally(ar.cause());
            }
          }));
      assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
          .cause().isInstanceOf(BoshException.class)
          .satisfies(e -> assertThat(((BoshException) e).condition()).isEqualTo(TerminateCondition.REMOTE_STREAM_ERROR));
      await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == State.CLOSED);
    } finally {
      closing.close().await(10, TimeUnit.SECONDS);
    }
  }
}
