package io.xbosh.pod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.xbosh.cluster.PodBus;
import io.xbosh.metrics.XboshMetrics;
import io.xbosh.protocol.SessionParams;
import io.xbosh.session.InMemorySessionStore;
import io.xbosh.session.RequestFlags;
import io.xbosh.session.SessionRecord;
import io.xbosh.session.SessionStore;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** One waiting HTTP request: early answers, the wait running out, a drain, a client that goes away. */
class HeldRequestTest {

  static final String TYPE = "text/xml; charset=utf-8";
  static final HeldRequest.Writer WRITER = (res, status, type, body) -> res.setStatusCode(status).putHeader("Content-Type", type).end(body);
  static Vertx vertx;
  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  Pod pod;
  HttpServer server;

  @BeforeAll
  static void startVertx() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stopVertx() throws Exception {
    vertx.close().await(20, TimeUnit.SECONDS);
  }

  @AfterEach
  void stopServer() throws Exception {
    if (server != null) {
      server.close().await(10, TimeUnit.SECONDS);
    }
  }

  /** Serves every request with {@code handler}, given the request and its freshly registered HeldRequest. */
  URI serve(BiConsumer<HttpServerRequest, HeldRequest> handler) throws Exception {
    return serve(PodBus.LOCAL, handler);
  }

  URI serve(PodBus bus, BiConsumer<HttpServerRequest, HeldRequest> handler) throws Exception {
    pod = new Pod(vertx, "pod-h", new InMemorySessionStore(100, 60), bus, new XboshMetrics("pod-h"), 10, 10);
    server = vertx.createHttpServer().requestHandler(req -> handler.accept(req, HeldRequest.register(pod, req.response(), WRITER)))
        .listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    return URI.create("http://127.0.0.1:" + server.actualPort() + "/");
  }

  static HttpResponse<String> get(URI uri) throws Exception {
    return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void anAnswerBeforeTheStoresReplyIsKeptAndWrittenOnSettle() throws Exception {
    URI uri = serve((req, held) -> {
      held.answer("<body>early</body>");
      // the store's reply to the request itself comes after the answer decided on another loop
      vertx.getOrCreateContext().runOnContext(v -> held.settle(TYPE, 60_000, h -> h.respond(200, TYPE, "<body>late</body>")));
    });
    HttpResponse<String> r = get(uri);
    assertThat(r.body()).isEqualTo("<body>early</body>");
    assertThat(r.headers().firstValue("Content-Type")).hasValue(TYPE);
    assertThat(pod.heldRequests()).isZero();
  }

  @Test
  void anAnswerOnTheRequestsOwnLoopIsWrittenBeforeTheCallReturns() throws Exception {
    // completed on the loop right after the answer: the client may have the response before that line runs
    java.util.concurrent.CompletableFuture<Boolean> doneAtOnce = new java.util.concurrent.CompletableFuture<>();
    URI uri = serve((req, held) -> {
      held.settle(TYPE, 60_000, h -> h.respond(200, TYPE, "<body>wait over</body>"));
      // a deliver reply on the loop the request is on: no turn of the loop in between
      held.answer("<body>now</body>");
      doneAtOnce.complete(held.done());
    });
    assertThat(get(uri).body()).isEqualTo("<body>now</body>");
    assertThat(doneAtOnce.get(10, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void anAnswerFromAnotherRequestsContextOnTheSameLoopIsWrittenAtOnce() throws Exception {
    // completed on the loop right after the answer: the client may have the response before that line runs
    java.util.concurrent.CompletableFuture<Boolean> doneAtOnce = new java.util.concurrent.CompletableFuture<>();
    URI uri = serve((req, held) -> {
      held.settle(TYPE, 60_000, h -> h.respond(200, TYPE, "<body>wait over</body>"));
      // Vert.x gives every HTTP request a duplicate context of the loop's: the link's callbacks run on
      // the context of the request that created the session, on the same thread
      io.vertx.core.internal.ContextInternal other = ((io.vertx.core.internal.ContextInternal) vertx.getOrCreateContext()).duplicate();
      other.runOnContext(v -> {
        held.answer("<body>now</body>");
        doneAtOnce.complete(held.done());
      });
    });
    assertThat(get(uri).body()).isEqualTo("<body>now</body>");
    assertThat(doneAtOnce.get(10, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void anAnswerFromAnotherThreadIsWrittenOnTheRequestsLoop() throws Exception {
    java.util.concurrent.atomic.AtomicReference<String> writtenOn = new java.util.concurrent.atomic.AtomicReference<>();
    HeldRequest.Writer writer = (res, status, type, body) -> {
      writtenOn.set(Thread.currentThread().getName());
      WRITER.write(res, status, type, body);
    };
    java.util.concurrent.atomic.AtomicReference<String> loop = new java.util.concurrent.atomic.AtomicReference<>();
    pod = new Pod(vertx, "pod-h", new InMemorySessionStore(100, 60), PodBus.LOCAL, new XboshMetrics("pod-h"), 10, 10);
    server = vertx.createHttpServer().requestHandler(req -> {
      HeldRequest held = HeldRequest.register(pod, req.response(), writer);
      loop.set(Thread.currentThread().getName());
      held.settle(TYPE, 60_000, h -> h.respond(200, TYPE, "<body>wait over</body>"));
      new Thread(() -> held.answer("<body>from elsewhere</body>")).start();
    }).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    assertThat(get(URI.create("http://127.0.0.1:" + server.actualPort() + "/")).body()).isEqualTo("<body>from elsewhere</body>");
    assertThat(writtenOn.get()).isEqualTo(loop.get());
  }

  @Test
  void theWaitRunningOutCallsBackOnceAndLaterAnswersAreIgnored() throws Exception {
    URI uri = serve((req, held) -> held.settle(TYPE, 100, h -> {
      h.respond(200, TYPE, "<body>wait over</body>");
      h.answer("<body>too late</body>");
    }));
    assertThat(get(uri).body()).isEqualTo("<body>wait over</body>");
    await().atMost(Duration.ofSeconds(5)).until(() -> pod.heldRequests() == 0);
  }

  /** The local bus, but with one other pod alive for clients to move to. */
  static PodBus withAPeer() {
    return new PodBus() {
      @Override
      public Future<Void> start(Listener listener) {
        return Future.succeededFuture();
      }

      @Override
      public boolean alive(String podId) {
        return true;
      }

      @Override
      public int otherLivePods() {
        return 1;
      }

      @Override
      public boolean healthy() {
        return true;
      }

      @Override
      public void owned(String sid) {
      }

      @Override
      public void disowned(String sid) {
      }

      @Override
      public Future<Void> stop() {
        return Future.succeededFuture();
      }
    };
  }

  @Test
  void aDrainingPodWithAPeerEndsTheWaitAtOnce() throws Exception {
    URI uri = serve(withAPeer(), (req, held) -> held.settle(TYPE, 60_000, h -> h.respond(200, TYPE, "<body>expired</body>")));
    var response = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    await().atMost(Duration.ofSeconds(10)).until(() -> pod != null && pod.heldRequests() == 1);
    pod.drain(10);
    assertThat(response.get(10, TimeUnit.SECONDS).body()).isEqualTo("<body>expired</body>");
    // and a request settled during the drain is not held either
    assertThat(get(uri).body()).isEqualTo("<body>expired</body>");
  }

  /**
   * A pod alone in its deployment (the in-process store) has nobody to send its clients to:
   * draining, it keeps holding requests until their wait runs out, so clients do not busy-poll it.
   */
  @Test
  void aDrainingPodAloneKeepsHoldingUntilTheWaitRunsOut() throws Exception {
    URI uri = serve((req, held) -> held.settle(TYPE, 1500, h -> h.respond(200, TYPE, "<body>waited " + (1500 - h.waitLeftMs()) + "</body>")));
    var before = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    await().atMost(Duration.ofSeconds(10)).until(() -> pod != null && pod.heldRequests() == 1);
    pod.drain(60_000);
    assertThat(pod.answersAtOnce()).isFalse();
    long start = System.nanoTime();
    var during = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    // each is answered only when its own wait of 1.5 s has run out: the timer saw no time left
    assertThat(before.get(10, TimeUnit.SECONDS).body()).isEqualTo("<body>waited 1500</body>");
    assertThat(during.get(10, TimeUnit.SECONDS).body()).isEqualTo("<body>waited 1500</body>");
    // the wheel ends a wait up to two ticks early, never late (XEP-0124 §8)
    assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(1500 - 2 * TimerWheel.TICK_MS);
  }

  @Test
  void aClientThatClosesItsConnectionIsForgotten() throws Exception {
    URI uri = serve((req, held) -> held.settle(TYPE, 60_000, h -> h.respond(200, TYPE, "<body/>")));
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), uri.getPort())) {
      OutputStream out = s.getOutputStream();
      out.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      await().atMost(Duration.ofSeconds(10)).until(() -> pod.heldRequests() == 1);
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> pod.heldRequests() == 0);
  }

  // ---- the end of the wait of a request the store holds with a deadline

  /**
   * A bus whose channel the test controls: {@link #channel} is what a request notes when registered,
   * each fence waits in {@link #fences} for the test to complete it.
   */
  static final class TestBus implements PodBus {
    volatile long channel = 7;
    final ConcurrentLinkedQueue<io.vertx.core.Promise<Long>> fences = new ConcurrentLinkedQueue<>();
    volatile Listener listener;

    @Override
    public Future<Void> start(Listener listener) {
      this.listener = listener;
      return Future.succeededFuture();
    }

    @Override
    public boolean alive(String podId) {
      return true;
    }

    @Override
    public boolean healthy() {
      return true;
    }

    @Override
    public void owned(String sid) {
    }

    @Override
    public void disowned(String sid) {
    }

    @Override
    public Future<Void> stop() {
      return Future.succeededFuture();
    }

    @Override
    public long channel() {
      return channel;
    }

    @Override
    public Future<Long> fence() {
      io.vertx.core.Promise<Long> p = io.vertx.core.Promise.promise();
      fences.add(p);
      return p.future();
    }

    /** The next fence the wheel asked for. */
    io.vertx.core.Promise<Long> nextFence() {
      await().atMost(Duration.ofSeconds(10)).until(() -> !fences.isEmpty());
      return fences.poll();
    }
  }

  static final String RELEASED = "<body>released</body>";

  double expired(String answer) {
    var c = pod.metrics().registry().find("xbosh.held.expired").tag("answer", answer).counter();
    return c == null ? 0 : c.count();
  }

  /** Holds each request for 300 ms with a store deadline; its release callback answers RELEASED. */
  URI serveWithDeadline(PodBus bus) throws Exception {
    return serve(bus, (req, held) -> {
      held.bind("s1", 2);
      held.settle(TYPE, 300, true, h -> h.respond(200, TYPE, RELEASED), null);
    });
  }

  @Test
  void aRequestWithAStoreDeadlineIsAnsweredEmptyByItsHolderWithoutAScript() throws Exception {
    // the in-process store: every answer reaches the pod in a store call's reply
    SessionParams params = new SessionParams(2, 1, 2, 60, 0, "1.11", TYPE, false, "fake.test", "en", null, null);
    String[] resent = new String[1];
    URI uri = serve((req, held) -> {
      SessionStore store = pod.store();
      held.bind("s1", 2);
      store.create(new SessionRecord("s1", params, pod.id(), 1))
          .compose(v -> store.accept("s1", 2, held.holder(), RequestFlags.NONE, ""))
          .onSuccess(a -> held.settle(TYPE, a.waitSeconds() * 1000L, a.deadline(), h -> h.respond(200, TYPE, RELEASED), null))
          .onFailure(e -> held.respond(500, TYPE, e.toString()));
    });
    String body = get(uri).body();
    assertThat(body).isEqualTo(HeldRequest.EMPTY);
    assertThat(expired("local")).isEqualTo(1);
    // the store answered it too, at its deadline, with the same bytes: a resend gets what the client got
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      resent[0] = pod.store().accept("s1", 2, "pod-h#x", RequestFlags.NONE, "").toCompletionStage().toCompletableFuture()
          .get(5, TimeUnit.SECONDS).immediate();
      return resent[0] != null;
    });
    assertThat(resent[0]).isEqualTo(body);
  }

  @Test
  void anAnswerPublishedBeforeTheFenceCameBackIsTheOneWritten() throws Exception {
    TestBus bus = new TestBus();
    URI uri = serveWithDeadline(bus);
    var response = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    io.vertx.core.Promise<Long> fence = bus.nextFence();
    // Redis sent the answer ahead of the PING's reply: the bus hands it over first
    HeldRequest held = pod.heldList().get(0);
    pod.answer(held.holder(), "<body>published</body>");
    fence.complete(7L);
    assertThat(response.get(10, TimeUnit.SECONDS).body()).isEqualTo("<body>published</body>");
    assertThat(expired("local")).isZero();
  }

  @Test
  void withNothingOnItsWayTheFenceLetsTheHolderAnswerEmpty() throws Exception {
    TestBus bus = new TestBus();
    URI uri = serveWithDeadline(bus);
    var response = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    bus.nextFence().complete(7L);
    assertThat(response.get(10, TimeUnit.SECONDS).body()).isEqualTo(HeldRequest.EMPTY);
    assertThat(expired("local")).isEqualTo(1);
  }

  @Test
  void aFailedFenceOrAChannelThatChangedMeansRelease() throws Exception {
    TestBus bus = new TestBus();
    URI uri = serveWithDeadline(bus);
    var failed = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    bus.nextFence().fail("no reply");
    assertThat(failed.get(10, TimeUnit.SECONDS).body()).isEqualTo(RELEASED);
    // registered on channel 7; the fence ran on the channel after a drop: an answer may have been lost
    var changed = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    bus.nextFence().complete(8L);
    assertThat(changed.get(10, TimeUnit.SECONDS).body()).isEqualTo(RELEASED);
    // registered while the channel was down
    bus.channel = -1;
    var down = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    bus.nextFence().complete(-1L);
    assertThat(down.get(10, TimeUnit.SECONDS).body()).isEqualTo(RELEASED);
    assertThat(expired("release")).isEqualTo(3);
    assertThat(expired("local")).isZero();
  }

  @Test
  void aRequestTheChannelCameBackForIsReleasedUntilAskedAbout() throws Exception {
    // the issue-12 caveat: no empty answer of its own for a request the pod must ask what it is owed
    TestBus bus = new TestBus();
    URI uri = serveWithDeadline(bus);
    var response = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    io.vertx.core.Promise<Long> fence = bus.nextFence();
    pod.heldList().get(0).recheckOnSettle();
    fence.complete(7L);
    assertThat(response.get(10, TimeUnit.SECONDS).body()).isEqualTo(RELEASED);
  }

  @Test
  void aScriptOfThePodOnTheSessionInFlightMeansRelease() throws Exception {
    TestBus bus = new TestBus();
    URI uri = serveWithDeadline(bus);
    // a deliver of the owner, say, whose reply may carry this request's answer
    io.vertx.core.Promise<Void> reply = io.vertx.core.Promise.promise();
    pod.answering("s1", reply::future);
    var inFlight = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    bus.nextFence().complete(7L);
    assertThat(inFlight.get(10, TimeUnit.SECONDS).body()).isEqualTo(RELEASED);
    // once its answers are dispatched, the count drops and the next wait ends here
    reply.complete();
    pod.scriptDone("s1");
    var after = http.sendAsync(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    bus.nextFence().complete(7L);
    assertThat(after.get(10, TimeUnit.SECONDS).body()).isEqualTo(HeldRequest.EMPTY);
  }

  /**
   * The channel comes back while a request's accept is still on its way (the store took the request,
   * and answered it, before the pod could know it holds it; the published answer was lost): once it
   * settles, the pod asks the store what it is owed instead of waiting out the wait, by when a
   * chatting client may have pushed that answer out of the response cache.
   */
  @Test
  void aRequestSettlingAfterTheChannelCameBackIsAskedWhatItIsOwed() throws Exception {
    SessionParams params = new SessionParams(60, 1, 2, 60, 2, "1.11", TYPE, false, "fake.test", "en", null, null);
    URI uri = serve((req, held) -> {
      SessionStore store = pod.store();
      held.bind("s1", 2);
      store.create(new SessionRecord("s1", params, pod.id(), 1))
          .compose(v -> store.accept("s1", 2, held.holder(), RequestFlags.NONE, ""))
          // decided, and dropped here: the published answer never reached the pod
          .compose(a -> store.deliver("s1", List.of("<message id='owed'/>")))
          .onSuccess(d -> {
            if (d.answers().size() != 1) {
              held.respond(500, TYPE, "answers: " + d.answers());
              return;
            }
            pod.resubscribed();
            held.settle(TYPE, 60_000, h -> h.respond(200, TYPE, "<body>wait over</body>"));
          })
          .onFailure(e -> held.respond(500, TYPE, e.toString()));
    });
    // well before the 60 s wait
    assertThat(get(uri).body()).contains("id='owed'");
  }
}
