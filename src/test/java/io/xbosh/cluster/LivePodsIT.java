package io.xbosh.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.RedisProcess;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * How many other pods a pod on Redis knows to be alive (what a drain needs: with none, requests
 * are still held; with one, they are answered at once so clients move to it), from the liveness
 * records on a real redis-server.
 */
class LivePodsIT {

  static Map<String, String> env(RedisProcess redis, String id) {
    return Map.of("XBOSH_REDIS_URL", redis.url(), "XBOSH_NODE_ID", id, "XBOSH_HEARTBEAT_MS", "200", "XBOSH_POD_DEAD_MS", "2000",
        "XBOSH_EVENT_LOOPS", "1");
  }

  @Test
  void aPodCountsTheOthersWhoseHeartbeatsHaveNotRunOut() throws Exception {
    try (RedisProcess redis = RedisProcess.start(); InProcessXbosh first = InProcessXbosh.start(env(redis, "live-a"))) {
      await().atMost(Duration.ofSeconds(10)).until(() -> first.xbosh().pod().otherLivePods() == 0);
      first.xbosh().pod().drain(60_000);
      assertThat(first.xbosh().pod().answersAtOnce()).isFalse();
      try (InProcessXbosh second = InProcessXbosh.start(env(redis, "live-b"))) {
        await().atMost(Duration.ofSeconds(10)).until(() -> first.xbosh().pod().otherLivePods() == 1);
        await().atMost(Duration.ofSeconds(10)).until(() -> second.xbosh().pod().otherLivePods() == 1);
        // the draining pod now has somewhere to send its clients
        assertThat(first.xbosh().pod().answersAtOnce()).isTrue();
      }
      // a pod that stops leaves the live set at once
      await().atMost(Duration.ofSeconds(10)).until(() -> first.xbosh().pod().otherLivePods() == 0);
      assertThat(first.xbosh().pod().answersAtOnce()).isFalse();
    }
  }
}
