package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.xbosh.testing.RedisProcess;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The event loops' own store connections against a real redis-server: the calls of one loop share
 * one connection (the per-call pool is never used for them), and a connection Redis closes is
 * replaced by the loop's next call.
 */
class RedisLoopConnectionIT {

  private static final int CALLS = 200;

  @Test
  void callsOfOneLoopShareOneConnectionThatIsReplacedWhenRedisClosesIt() throws Exception {
    try (RedisProcess server = RedisProcess.start()) {
      Vertx vertx = Vertx.vertx();
      // the per-call pool has one connection, so a call that took it for good would starve the rest
      Redis pool = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()).setMaxPoolSize(1)
          .setMaxPoolWaiting(64).setMaxWaitingHandlers(1024));
      Redis loops = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()).setMaxPoolSize(2)
          .setMaxPoolWaiting(8).setMaxWaitingHandlers(1024));
      RedisSessionStore store = new RedisSessionStore(pool, false, "pod-a", 50, SessionStore.DEFAULT_MAX_QUEUED_BYTES,
          SessionStore.DEFAULT_MAX_RESPONSE_BYTES, 60, SessionStore.DEFAULT_MAX_STREAMS, new SimpleMeterRegistry(), loops, 1);
      try {
        int before = connectedClients(server);
        List<Future<String>> calls = onOneLoop(vertx, store, CALLS);
        await().atMost(Duration.ofSeconds(30)).until(() -> calls.stream().allMatch(Future::isComplete));
        assertThat(calls).allMatch(Future::succeeded);
        assertThat(connectedClients(server) - before).as("one connection for the loop, none leased per call").isEqualTo(1);
        // calls from a thread that is no event loop lease the pool's connection
        assertThat(store.answered("nosuchsession", 1, "pod-a#1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS))
            .isNull();

        server.cli("client", "kill", "type", "normal");
        // the in-flight calls may fail with the connection; the loop's later calls get a new one
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
          List<Future<String>> again = onOneLoop(vertx, store, 20);
          await().atMost(Duration.ofSeconds(10)).until(() -> again.stream().allMatch(Future::isComplete));
          assertThat(again).allMatch(Future::succeeded);
        });
        assertThat(store.inFlight()).isZero();
      } finally {
        store.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        pool.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * A burst as the chat sends it, pipelined on one loop's connection: 200 sessions created, 200 held requests with a
   * payload each, 2,400 stanzas delivered (the first of each session into its held request, the
   * rest queued), then 200 requests that each take eleven queued stanzas back (replies of about
   * 11 KB, 2.2 MB on the one connection). Each wave is sent in one loop turn and must be answered,
   * every call, within the bound: a connection whose reads or writes stall under a deep pipeline
   * fails it. The stanzas' wave is deeper than {@link RedisSessionStore#MAX_LOOP_IN_FLIGHT}: what is
   * beyond it leases the pool's connection instead of overflowing the client's queue of calls
   * awaiting replies (which failed those calls and let the loop's connection go).
   */
  @Test
  void aBurstPipelinedOnOneLoopConnectionIsAnsweredWithinTheBound() throws Exception {
    int sessions = 200;
    int stanzas = 12;
    Duration bound = Duration.ofSeconds(10);
    String payload = "<message to='b@localhost'><body>" + "x".repeat(1000) + "</body></message>";
    try (RedisProcess server = RedisProcess.start()) {
      Vertx vertx = Vertx.vertx();
      Redis pool = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()).setMaxPoolSize(1)
          .setMaxPoolWaiting(4096).setMaxWaitingHandlers(1024));
      // as RedisClients makes it: room for the calls the store keeps in flight on a connection
      Redis loops = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()).setMaxPoolSize(2)
          .setMaxPoolWaiting(8).setMaxWaitingHandlers(2 * RedisSessionStore.MAX_LOOP_IN_FLIGHT));
      RedisSessionStore store = new RedisSessionStore(pool, false, "pod-a", 50, SessionStore.DEFAULT_MAX_QUEUED_BYTES,
          SessionStore.DEFAULT_MAX_RESPONSE_BYTES, 60, SessionStore.DEFAULT_MAX_STREAMS, new SimpleMeterRegistry(), loops, 1);
      try {
        // every call from one loop (a context of its own): all of them go over its one connection
        io.vertx.core.Context loop = vertx.getOrCreateContext();
        int before = connectedClients(server);
        List<String> sids = new ArrayList<>();
        for (int i = 0; i < sessions; i++) {
          sids.add(java.util.UUID.randomUUID().toString());
        }
        inOneTurn(loop, sid -> List.of(store.create(new SessionRecord(sid, SessionStoreContract.params(1, 30, 60, false), "pod-a",
            100))), sids, bound);

        List<Future<Accepted>> held = inOneTurn(loop, sid -> List.of(store.accept(sid, 101, "pod-a#1", RequestFlags.NONE, payload)), sids, bound);
        assertThat(held).allSatisfy(f -> assertThat(f.result().forwards()).hasSize(1));

        List<Future<SessionStore.Delivery>> delivered = inOneTurn(loop, sid -> {
          List<Future<SessionStore.Delivery>> calls = new ArrayList<>();
          for (int i = 0; i < stanzas; i++) {
            calls.add(store.deliver(sid, List.of(payload)));
          }
          return calls;
        }, sids, bound);
        // the first stanza of each session went into its held request
        assertThat(delivered.stream().filter(f -> !f.result().answers().isEmpty()).count()).isEqualTo(sessions);

        List<Future<Accepted>> taken = inOneTurn(loop, sid -> List.of(store.accept(sid, 102, "pod-a#2", RequestFlags.NONE, "")), sids, bound);
        // the other eleven of each session come back in the answer to its next request
        assertThat(taken).allSatisfy(f -> assertThat(occurrences(answerBodies(f.result()), payload)).isEqualTo(stanzas - 1));

        // the calls beyond the loop's bound in flight (the stanzas' wave) took the pool's one connection
        assertThat(connectedClients(server) - before).as("the loop's connection and the pool's").isEqualTo(2);
        assertThat(store.inFlight()).isZero();
      } finally {
        store.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        pool.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * A wave of replies waiting on a loop's connection (the loop was busy while Redis answered 3,000
   * calls of 1 KB replies each), each reply's handling sending the next call, as a script's
   * continuation does: the calls the first replies send go out after at most one read (64 KB at
   * most), not after the whole read pass. Netty's default pass of up to 16 reads of up to 64 KB
   * handled everything the socket held (here about 127 KB, every reply of it) before
   * the first of them was written, which is how a burst turned the loop's traffic into waves. The
   * same wave on a connection left as the client made it is the control: it must show the long pass.
   */
  @Test
  void aLoopConnectionsReadPassHandlesOneReadBeforeTheCallsItsRepliesSendGoOut() throws Exception {
    try (RedisProcess server = RedisProcess.start()) {
      Vertx vertx = Vertx.vertx();
      try {
        server.cli("set", "big", "x".repeat(1000));
        int tuned = repliesHandledBeforeTheFirstFollowUpWentOut(vertx, server, true);
        int untuned = repliesHandledBeforeTheFirstFollowUpWentOut(vertx, server, false);
        System.out.printf("replies handled before the first follow-up call was written: %d (one read per pass), %d (Netty's pass)%n",
            tuned, untuned);
        assertThat(tuned).as("one read of at most 64 KB: 65 replies of 1 KB at most").isBetween(1, 65);
        assertThat(untuned).as("the control: Netty's pass reads what the socket holds").isGreaterThan(65);
      } finally {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * Sends 3,000 {@code GET big} on a new connection from one loop turn, keeps the loop busy until
   * Redis has run all of them (their replies waiting in the socket and Redis' buffer), then counts
   * the replies the loop handles before the first call sent from a reply's handling is written.
   */
  private static int repliesHandledBeforeTheFirstFollowUpWentOut(Vertx vertx, RedisProcess server, boolean tuned)
      throws Exception {
    int wave = 3000;
    // a client of its own: the connection is not handed to the next measurement
    Redis client = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()).setMaxPoolSize(1)
        .setMaxPoolWaiting(8).setMaxWaitingHandlers(4 * wave));
    server.cli("del", "done");
    io.vertx.core.Context loop = vertx.getOrCreateContext();
    CompletableFuture<io.vertx.redis.client.RedisConnection> opened = new CompletableFuture<>();
    loop.runOnContext(v -> client.connect().onComplete(ar -> {
      if (ar.succeeded()) {
        opened.complete(ar.result());
      } else {
        opened.completeExceptionally(ar.cause());
      }
    }));
    io.vertx.redis.client.RedisConnection c = opened.get(10, TimeUnit.SECONDS);
    io.netty.channel.Channel ch = RedisSessionStore.channelOf(c);
    assertThat(ch).as("the connection's channel").isNotNull();
    if (tuned) {
      assertThat(RedisSessionStore.shortReadPasses(c)).isTrue();
    }
    int[] handled = {0};
    int[] handledAtFirstFlush = {-1};
    boolean[] followUps = {false};
    // sees what the connection writes: the first flush that carries a follow-up call
    ch.pipeline().addBefore("handler", "flushes", new io.netty.channel.ChannelOutboundHandlerAdapter() {
      @Override
      public void flush(io.netty.channel.ChannelHandlerContext ctx) {
        if (followUps[0] && handledAtFirstFlush[0] < 0) {
          handledAtFirstFlush[0] = handled[0];
        }
        ctx.flush();
      }
    });
    CompletableFuture<Void> done = new CompletableFuture<>();
    loop.runOnContext(v -> {
      List<Future<io.vertx.redis.client.Response>> calls = new ArrayList<>();
      for (int i = 0; i < wave; i++) {
        calls.add(c.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.GET).arg("big")).onSuccess(r -> {
          handled[0]++;
          followUps[0] = true;
          c.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.INCR).arg("followups"));
        }));
      }
      calls.add(c.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.SET).arg("done").arg("1")));
      // the loop stays busy until Redis has run the whole wave: its replies wait for the loop's reads
      try {
        awaitKey(server.port(), "done");
      } catch (IOException e) {
        done.completeExceptionally(e);
        return;
      }
      Future.all(calls).onComplete(ar -> done.complete(null));
    });
    done.get(30, TimeUnit.SECONDS);
    client.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    return handledAtFirstFlush[0];
  }

  /** Asks Redis over a plain socket, from the calling thread, until {@code key} exists (10 s at most). */
  private static void awaitKey(int port, String key) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", port)) {
      java.io.OutputStream out = s.getOutputStream();
      java.io.InputStream in = s.getInputStream();
      byte[] buf = new byte[64];
      while (System.nanoTime() < deadline) {
        out.write(("*2\r\n$6\r\nEXISTS\r\n$" + key.length() + "\r\n" + key + "\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        out.flush();
        int n = in.read(buf);
        if (n >= 2 && buf[0] == ':' && buf[1] == '1') {
          return;
        }
      }
    }
    throw new IOException(key + " not set within 10 s");
  }

  /**
   * The calls {@code each} makes for every session, all sent in one event loop turn; returns once
   * every one has succeeded, and fails the test when they are not all answered within {@code bound}.
   */
  private static <T> List<Future<T>> inOneTurn(io.vertx.core.Context loop, java.util.function.Function<String, List<Future<T>>> each,
      List<String> sids, Duration bound) throws Exception {
    CompletableFuture<List<Future<T>>> sent = new CompletableFuture<>();
    long t0 = System.nanoTime();
    loop.runOnContext(v -> {
      List<Future<T>> calls = new ArrayList<>();
      sids.forEach(sid -> calls.addAll(each.apply(sid)));
      sent.complete(calls);
    });
    List<Future<T>> calls = sent.get(10, TimeUnit.SECONDS);
    Future.all(calls).toCompletionStage().toCompletableFuture().get(bound.toMillis(), TimeUnit.MILLISECONDS);
    System.out.printf("%d calls pipelined on one loop connection answered in %d ms%n", calls.size(),
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    return calls;
  }

  private static String answerBodies(Accepted a) {
    StringBuilder all = new StringBuilder(a.immediate() == null ? "" : a.immediate());
    a.answers().forEach(answer -> all.append(answer.body()));
    return all.toString();
  }

  private static int occurrences(String text, String part) {
    int n = 0;
    for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + part.length())) {
      n++;
    }
    return n;
  }

  /** {@code n} calls sent from one event loop turn. */
  private static List<Future<String>> onOneLoop(Vertx vertx, RedisSessionStore store, int n) throws Exception {
    CompletableFuture<List<Future<String>>> sent = new CompletableFuture<>();
    vertx.runOnContext(v -> {
      List<Future<String>> calls = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        calls.add(store.answered("nosuchsession" + i, 1, "pod-a#1"));
      }
      sent.complete(calls);
    });
    return sent.get(10, TimeUnit.SECONDS);
  }

  private static int connectedClients(RedisProcess server) throws Exception {
    Matcher m = Pattern.compile("connected_clients:(\\d+)").matcher(server.cli("info", "clients"));
    return m.find() ? Integer.parseInt(m.group(1)) : -1;
  }
}
