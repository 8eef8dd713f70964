package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.xbosh.testing.RedisProcess;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The HTTP suite on a real redis-server. */
class BoshHttpRedisIT extends BoshHttpContract {

  private static RedisProcess redis;

  @BeforeAll
  static void start() throws Exception {
    redis = RedisProcess.start();
    startAll(Map.of("XBOSH_REDIS_URL", redis.url()));
  }

  @AfterAll
  static void stopRedis() throws Exception {
    stopAll();
    if (redis != null) {
      redis.close();
    }
  }

  @Test
  void metricsTimeEveryStoreScript() throws Exception {
    login("bob", "bobpw", "redis-metrics");
    String m = scrape();
    assertThat(sample(m, "xbosh_redis_command_seconds_count", "script=\"accept\"", "outcome=\"ok\"")).isPositive();
    assertThat(sample(m, "xbosh_redis_command_seconds_count", "script=\"create\"", "outcome=\"ok\"")).isPositive();
  }
}
