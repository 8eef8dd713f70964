package io.xbosh.fault;

import static io.xbosh.fault.FaultAssertions.assertDeadPodsSessionsTold;
import static io.xbosh.fault.FaultAssertions.assertLivePodsSessionsSurvive;
import static io.xbosh.fault.FaultAssertions.assertNothingLeftBehind;
import static io.xbosh.fault.FaultAssertions.record;

import static org.junit.jupiter.api.Assertions.assertAll;

import io.xbosh.testing.FaultCluster;
import io.xbosh.testing.FaultLoad;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * kill -9 of one pod of three under load: only its sessions end, promptly (chatting and idle
 * ones alike), and nobody else loses anything.
 */
class PodKillFaultIT {

  @Test
  void killedPodsSessionsEndWithinTheBoundOthersLoseNothing() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.PERSISTENT, c -> {
      FaultLoad load = c.loginLoad();
      // idle clients too: they only long-poll, so nothing but the reaper can tell them
      FaultLoad idle = c.loginLoad("v", FaultCluster.EXTRA_SESSIONS, FaultCluster.WAIT_SECONDS);
      load.startMessages(FaultCluster.RATE);
      c.traffic(FaultCluster.PHASE_MS);
      long killedAt = c.killPod(1);
      c.traffic(FaultCluster.PHASE_MS + FaultCluster.detectionBoundMs());
      FaultLoad.Report idleReport = idle.report(5000);
      FaultLoad.Report r = c.settle(Duration.ofSeconds(20));
      Set<String> dead = Set.of(c.id(1));
      long lostFromDead = r.lost().stream().filter(l -> l.fromOwner().equals(c.id(1)) && l.toEnd() == null).count();
      record("pod kill -9", r, "detectionMs=" + r.maxDetectionMs(dead, killedAt)
          + " acceptedFromDeadPodsSessionsNeverDelivered=" + lostFromDead);
      record("pod kill -9, idle sessions", idleReport, "ownedByDeadPod=" + idleReport.ownedBy(dead).size()
          + " detectionMs=" + idleReport.maxDetectionMs(dead, killedAt));
      assertAll(
          () -> assertLivePodsSessionsSurvive("pod kill -9", r, dead),
          () -> assertDeadPodsSessionsTold("pod kill -9", r, dead, killedAt, "internal-server-error",
              FaultCluster.detectionBoundMs()),
          () -> assertLivePodsSessionsSurvive("pod kill -9, idle sessions", idleReport, dead),
          () -> assertDeadPodsSessionsTold("pod kill -9, idle sessions", idleReport, dead, killedAt, "internal-server-error",
              FaultCluster.detectionBoundMs()));
      assertNothingLeftBehind(c);
    });
  }
}
