package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.xbosh.testing.RedisProcess;
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
