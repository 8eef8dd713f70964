package io.xbosh.fault;

import static io.xbosh.fault.FaultAssertions.assertLivePodsSessionsSurvive;
import static io.xbosh.fault.FaultAssertions.assertNothingLeftBehind;
import static io.xbosh.fault.FaultAssertions.record;

import io.xbosh.testing.FaultCluster;
import io.xbosh.testing.FaultLoad;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Redis restarted with its data kept (append-only file), down about 3 s, longer than the pods'
 * dead-time: every pod is alive throughout, so no session may end (issue 12, row 1).
 */
class RedisRestartFaultIT {

  @Test
  void redisRestartWithDataKeptEndsNoSessionAndLosesNothing() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.PERSISTENT, c -> {
      int retriedBefore = c.podLog(FaultAssertions.DELIVER_RETRIED).size();
      int recoveriesBefore = c.podLog(FaultAssertions.RECOVERY_RETRIED).size();
      FaultLoad load = c.loginLoad();
      load.startMessages(FaultCluster.RATE);
      c.traffic(FaultCluster.PHASE_MS);
      long downAt = c.stopRedis();
      c.log("redis-server stopped");
      FaultCluster.faultLastsFor(Duration.ofMillis(3000));
      c.startRedis(List.of());
      long downMs = (System.nanoTime() - downAt) / 1_000_000;
      c.log("redis-server back after " + downMs + " ms");
      c.traffic(FaultCluster.PHASE_MS + FaultCluster.detectionBoundMs());
      FaultLoad.Report r = c.settle(Duration.ofSeconds(20));
      record("redis restart (AOF, " + downMs + " ms down)", r,
          "deliverRetries=" + (c.podLog(FaultAssertions.DELIVER_RETRIED).size() - retriedBefore)
          + " answerRecoveryRetries=" + (c.podLog(FaultAssertions.RECOVERY_RETRIED).size() - recoveriesBefore));
      try {
        assertLivePodsSessionsSurvive("redis restart", r, Set.of());
      } catch (AssertionError e) {
        FaultAssertions.printEndedSessionsLog(c, r);
        throw e;
      }
      assertNothingLeftBehind(c);
    });
  }
}
