package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.xbosh.config.XboshConfig;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Which store connections a pod's config gives it (no Redis is reached: clients connect lazily). */
class RedisClientsTest {

  private final Vertx vertx = Vertx.vertx();

  @AfterEach
  void close() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private RedisClients clients(Map<String, String> extra) {
    Map<String, String> env = new HashMap<>(Map.of("XBOSH_REDIS_URL", "redis://127.0.0.1:1", "XBOSH_EVENT_LOOPS", "3"));
    env.putAll(extra);
    return new RedisClients(vertx, XboshConfig.from(env));
  }

  @Test
  void theEventLoopsGetConnectionsOfTheirOwnOnlyWhenTurnedOn() {
    assertThat(clients(Map.of()).loopConnections()).isNull();
    RedisClients on = clients(Map.of("XBOSH_REDIS_LOOP_CONNECTIONS", "true"));
    Redis loops = on.loopConnections();
    assertThat(loops).isNotNull();
    assertThat(loops).isNotSameAs(on.commands());
    loops.close();
    assertThat(RedisClients.loopConnectionCount(XboshConfig.from(Map.of("XBOSH_EVENT_LOOPS", "3")))).isEqualTo(4);
  }

  @Test
  void aRedisClusterRoutesEveryCallItself() {
    assertThat(clients(Map.of("XBOSH_REDIS_CLUSTER", "true", "XBOSH_REDIS_LOOP_CONNECTIONS", "true")).loopConnections()).isNull();
  }
}
