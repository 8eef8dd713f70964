package io.xbosh.fault;

import static io.xbosh.fault.FaultAssertions.assertDeadPodsSessionsTold;
import static io.xbosh.fault.FaultAssertions.assertLivePodsSessionsSurvive;
import static io.xbosh.fault.FaultAssertions.assertNothingLeftBehind;
import static io.xbosh.fault.FaultAssertions.record;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertAll;

import io.xbosh.testing.FaultCluster;
import io.xbosh.testing.FaultLoad;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** SIGSTOP of a pod (a stalled VM, a long GC pause), then SIGCONT. */
class PodFreezeFaultIT {

  /** Frozen for half the dead-time: a pause, not a death. Nothing may end, nothing be lost. */
  @Test
  void aFreezeShorterThanTheDeadTimeEndsNothing() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.PERSISTENT, c -> {
      FaultLoad load = c.loginLoad();
      load.startMessages(FaultCluster.RATE);
      c.traffic(FaultCluster.PHASE_MS);
      c.freezePod(1);
      c.log("SIGSTOP " + c.id(1));
      FaultCluster.faultLastsFor(Duration.ofMillis(FaultCluster.DEAD_MS / 2));
      c.thawPod(1);
      c.log("SIGCONT " + c.id(1));
      c.traffic(FaultCluster.PHASE_MS + FaultCluster.detectionBoundMs());
      FaultLoad.Report r = c.settle(Duration.ofSeconds(20));
      record("SIGSTOP " + FaultCluster.DEAD_MS / 2 + " ms (< dead-time)", r, "");
      assertLivePodsSessionsSurvive("short SIGSTOP", r, Set.of());
      assertNothingLeftBehind(c);
    });
  }

  /**
   * Frozen for three dead-times: the others reap it, so its sessions are told
   * {@code internal-server-error}; when it wakes it must learn it was reaped and close its
   * links (no split brain: its {@code xbosh_sessions_owned} drops to 0), and it serves again.
   */
  @Test
  void aFreezeLongerThanTheDeadTimeEndsItsSessionsAndItClosesItsLinksOnWaking() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.PERSISTENT, c -> {
      FaultLoad load = c.loginLoad();
      load.startMessages(FaultCluster.RATE);
      c.traffic(FaultCluster.PHASE_MS);
      double ownedBefore = c.metric(1, "xbosh_sessions_owned");
      long frozenAt = c.freezePod(1);
      c.log("SIGSTOP " + c.id(1) + " owning " + ownedBefore + " sessions");
      FaultCluster.faultLastsFor(Duration.ofMillis(FaultCluster.DEAD_MS * 3L));
      c.thawPod(1);
      long thawedAt = System.nanoTime();
      c.log("SIGCONT " + c.id(1));
      double[] owned = {Double.NaN};
      String splitBrain = null;
      try {
        await().atMost(Duration.ofMillis(FaultCluster.detectionBoundMs())).pollInterval(Duration.ofMillis(200))
            .until(() -> (owned[0] = c.metric(1, "xbosh_sessions_owned")) == 0);
      } catch (org.awaitility.core.ConditionTimeoutException e) {
        splitBrain = c.id(1) + " still holds " + owned[0] + " upstream links " + FaultCluster.detectionBoundMs()
            + " ms after waking, for sessions the others reaped (split brain)";
      }
      long closedMs = (System.nanoTime() - thawedAt) / 1_000_000;
      c.traffic(FaultCluster.PHASE_MS);
      FaultLoad.Report r = c.settle(Duration.ofSeconds(20));
      Set<String> frozen = Set.of(c.id(1));
      long frozenMs = (thawedAt - frozenAt) / 1_000_000;
      record("SIGSTOP " + frozenMs + " ms (> dead-time), then SIGCONT", r, "detectionMsFromFreeze="
          + r.maxDetectionMs(frozen, frozenAt) + " linksClosedMsAfterWake=" + closedMs + " ownedAfterWake=" + owned[0]);
      String split = splitBrain;
      assertAll(
          () -> assertLivePodsSessionsSurvive("long SIGSTOP", r, frozen),
          // requests stuck on the frozen pod learn only when it wakes: the bound counts from the wake-up
          () -> assertDeadPodsSessionsTold("long SIGSTOP", r, frozen, frozenAt, "internal-server-error",
              frozenMs + FaultCluster.detectionBoundMs()),
          () -> {
            if (split != null) {
              throw new AssertionError(split + "\n" + r.describe());
            }
          });
      assertNothingLeftBehind(c);
    });
  }
}
