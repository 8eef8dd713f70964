package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.ConnectionPoolTooBusyException;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.xbosh.testing.RedisProcess;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The store's view of its Redis pool against a real redis-server: calls in flight, and calls the
 * pool refused because its connection and its wait queue were taken.
 */
class RedisPoolMetricsIT {

  private static final int CALLS = 50;

  @Test
  void inFlightCallsAndCallsRefusedByAFullPoolAreCounted() throws Exception {
    try (RedisProcess server = RedisProcess.start()) {
      Vertx vertx = Vertx.vertx();
      Redis redis = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()).setMaxPoolSize(1)
          .setMaxPoolWaiting(1).setMaxWaitingHandlers(1024));
      try {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        RedisSessionStore store = new RedisSessionStore(redis, false, "pod-a", 50, 60, SessionStore.DEFAULT_MAX_STREAMS, meters);
        List<Future<String>> calls = new ArrayList<>();
        CompletableFuture<Integer> countedAtOnce = new CompletableFuture<>();
        // all sent from one event loop turn: none can be answered before the turn ends
        vertx.runOnContext(v -> {
          for (int i = 0; i < CALLS; i++) {
            calls.add(store.answered("nosuchsession" + i, 1, "pod-a#1"));
          }
          countedAtOnce.complete(store.inFlight() + (int) meters.get("xbosh.redis.pool.busy").counter().count());
        });
        assertThat(countedAtOnce.get(30, TimeUnit.SECONDS)).as("in flight, or refused already").isEqualTo(CALLS);
        await().atMost(Duration.ofSeconds(30)).until(() -> calls.stream().allMatch(Future::isComplete));
        long refused = calls.stream().filter(f -> f.failed() && f.cause() instanceof ConnectionPoolTooBusyException).count();
        long answered = calls.stream().filter(Future::succeeded).count();
        assertThat(refused).as("one connection, one waiter: the rest is refused").isPositive();
        assertThat(answered).isPositive();
        assertThat(refused + answered).isEqualTo(CALLS);
        assertThat(meters.get("xbosh.redis.pool.busy").counter().count()).isEqualTo((double) refused);
        await().atMost(Duration.ofSeconds(10)).until(() -> store.inFlight() == 0);
      } finally {
        redis.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      }
    }
  }
}
