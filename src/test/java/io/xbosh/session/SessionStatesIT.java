package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisClientType;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.xbosh.cluster.SlotRoutingRedis;
import io.xbosh.testing.RedisClusterProcess;
import io.xbosh.testing.RedisProcess;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The sweep's read at the scale of a full pod (XBOSH_MAX_SESSIONS, 10,000 sessions, and more) with
 * the pool a pod has by default (32 connections, 8,192 waiting): one HMGET per sid sent at once
 * overflowed the pool's wait queue; chunked batches do not.
 */
class SessionStatesIT {

  static final int POOL = 32;
  static final int LIVE = 10_000;
  static final int ENDED = 300;
  static final int GONE = 300;
  static Vertx vertx;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  /** The options Xbosh gives its client with the default XBOSH_REDIS_POOL_SIZE. */
  static RedisOptions podOptions(String urls, boolean cluster) {
    return new RedisOptions().setType(cluster ? RedisClientType.CLUSTER : RedisClientType.STANDALONE)
        .setEndpoints(List.of(urls.split(","))).setMaxPoolSize(POOL).setMaxPoolWaiting(POOL * 256)
        .setMaxWaitingHandlers(POOL * 256);
  }

  static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
  }

  @Test
  void statesOfTenThousandOwnedSessionsOnOneServer() throws Exception {
    try (RedisProcess server = RedisProcess.start()) {
      Redis redis = Redis.createClient(vertx, podOptions(server.url(), false));
      try {
        check(redis);
      } finally {
        get(redis.close());
      }
    }
  }

  @Test
  void statesOfTenThousandOwnedSessionsAcrossAClusterInOneBatchPerNode() throws Exception {
    try (RedisClusterProcess cluster = RedisClusterProcess.start()) {
      Redis redis = new SlotRoutingRedis(vertx, podOptions(cluster.urls(), true));
      try {
        check(redis);
      } finally {
        get(redis.close());
      }
    }
  }

  private static void check(Redis redis) throws Exception {
    RedisSessionStore store = new RedisSessionStore(redis, false, "pod-a", 50, 60);
    Set<String> live = new HashSet<>();
    Set<String> ended = new HashSet<>();
    List<String> all = new ArrayList<>();
    List<Request> writes = new ArrayList<>();
    for (int i = 0; i < LIVE + ENDED + GONE; i++) {
      String sid = "states-" + i;
      all.add(sid);
      if (i < LIVE) {
        live.add(sid);
        writes.add(Request.cmd(Command.HSET).arg("xb:{" + sid + "}").arg("hi").arg(i));
      } else if (i < LIVE + ENDED) {
        ended.add(sid);
        writes.add(Request.cmd(Command.HSET).arg("xb:{" + sid + "}").arg("term").arg("<body/>"));
      }
    }
    for (int i = 0; i < writes.size(); i += 1000) {
      get(redis.batch(writes.subList(i, Math.min(writes.size(), i + 1000))));
    }
    long started = System.nanoTime();
    SessionStore.States states = get(store.states(all));
    long ms = (System.nanoTime() - started) / 1_000_000;
    assertThat(states.live()).hasSize(LIVE).isEqualTo(live);
    assertThat(states.ended()).hasSize(ENDED).isEqualTo(ended);
    // and again while the pool serves other commands, as the sweep does beside live traffic
    List<Future<?>> traffic = new ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      traffic.add(redis.send(Request.cmd(Command.HGET).arg("xb:{states-" + i + "}").arg("hi")));
    }
    SessionStore.States again = get(store.states(all));
    get(Future.all(traffic));
    assertThat(again.live()).isEqualTo(live);
    System.out.println("states of " + all.size() + " sids in " + ms + " ms");
  }
}
