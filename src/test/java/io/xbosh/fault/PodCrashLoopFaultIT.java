package io.xbosh.fault;

import static io.xbosh.fault.FaultAssertions.assertDeadPodsSessionsTold;
import static io.xbosh.fault.FaultAssertions.assertLivePodsSessionsSurvive;
import static io.xbosh.fault.FaultAssertions.record;

import static org.junit.jupiter.api.Assertions.assertAll;

import io.xbosh.testing.FaultCluster;
import io.xbosh.testing.FaultLoad;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A pod killed, started again under the same {@code XBOSH_NODE_ID}, and killed again soon after
 * (within the reap lock of its first death): each death is reaped, each time within the bound,
 * and nothing of the pod stays in Redis (issue 12, row 5).
 */
class PodCrashLoopFaultIT {

  static final int SECOND = FaultCluster.EXTRA_SESSIONS;

  @Test
  void aCrashLoopingPodIsReapedOnEveryDeathAndLeavesNoKeys() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.PERSISTENT, c -> {
      FaultLoad first = c.loginLoad();
      first.startMessages(FaultCluster.RATE);
      c.traffic(FaultCluster.PHASE_MS);
      Set<String> dead = Set.of(c.id(1));
      long firstKill = c.killPod(1);
      c.traffic(FaultCluster.detectionBoundMs());
      FaultLoad.Report afterFirst = first.report(5000);
      long firstDetect = assertDeadPodsSessionsTold("crash loop, first death", afterFirst, dead, firstKill,
          "internal-server-error", FaultCluster.detectionBoundMs());
      c.startPod(1);
      c.awaitAllInLoadBalancer();
      // sessions created now are spread over the three pods again: some are owned by the restarted one
      FaultLoad second = c.loginLoad("v", SECOND, FaultCluster.WAIT_SECONDS);
      long sinceFirstMs = (System.nanoTime() - firstKill) / 1_000_000;
      long secondKill = c.killPod(1);
      c.log("second kill " + sinceFirstMs + " ms after the first");
      c.traffic(FaultCluster.PHASE_MS + FaultCluster.detectionBoundMs());
      FaultLoad.Report r2 = second.report(5000);
      FaultLoad.Report r1 = c.settle(Duration.ofSeconds(20));
      record("crash loop (kill, restart, kill " + sinceFirstMs + " ms later), first load", r1, "firstDetectionMs=" + firstDetect);
      record("crash loop, sessions of the second run", r2, "ownedByTheSecondRun=" + r2.ownedBy(dead).size()
          + " secondDetectionMs=" + r2.maxDetectionMs(dead, secondKill));
      assertAll(
          () -> assertLivePodsSessionsSurvive("crash loop, first load", r1, dead),
          () -> assertLivePodsSessionsSurvive("crash loop, second load", r2, dead),
          () -> assertDeadPodsSessionsTold("crash loop, second death", r2, dead, secondKill, "internal-server-error",
              FaultCluster.detectionBoundMs()),
          // xb:{pods}:owned:pod-2 and its xb:{pods} member must be gone now, while the other pods' sessions still live
          () -> c.assertNothingLeftBehind(false, Duration.ofMillis(FaultCluster.detectionBoundMs())));
      c.assertNothingLeftBehind(true, Duration.ofSeconds(20));
    });
  }
}
