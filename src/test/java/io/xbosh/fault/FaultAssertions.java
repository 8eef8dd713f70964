package io.xbosh.fault;

import io.xbosh.testing.FaultCluster;
import io.xbosh.testing.FaultLoad;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * The fault suite's rules, checked on a {@link FaultLoad.Report}: failures say which sessions
 * ended and why (and which pod owned them), and which messages were lost or duplicated.
 */
final class FaultAssertions {

  private FaultAssertions() {
  }

  /**
   * What a pod logs when a batch of server stanzas goes to the store again after a failed deliver
   * (UpstreamLink): each such batch may have been applied already, its reply lost.
   */
  static final String DELIVER_RETRIED = "delivering server stanzas failed, retrying";
  /** What a pod logs when the store refused to say what held requests are owed after its channel came back. */
  static final String RECOVERY_RETRIED = "recovering answers of";

  /** A scenario's body, given the deployment. */
  interface Scenario {
    void run(FaultCluster c) throws Exception;
  }

  /**
   * Runs a scenario on the shared deployment of that store; a failing scenario discards the
   * deployment so that the next one does not inherit its damage.
   */
  static void inDeployment(FaultCluster.Store store, Scenario scenario) throws Exception {
    FaultCluster c = FaultCluster.acquire(store);
    boolean passed = false;
    try {
      scenario.run(c);
      passed = true;
    } finally {
      c.release(passed);
    }
  }

  /** Prints what the pods logged about each session that ended, for a failure's diagnosis. */
  static void printEndedSessionsLog(FaultCluster c, FaultLoad.Report r) {
    for (FaultLoad.SessionReport s : r.sessions()) {
      if (!s.survived()) {
        System.out.println("FAULT pods' log of " + s.user() + " (sid " + s.sid() + ", ended " + s.endCondition() + "):");
        c.podLog(s.sid()).forEach(l -> System.out.println("  " + l));
      }
    }
  }

  /** Prints the scenario's numbers for the record (docs/FAULTS.md is written from these lines). */
  static void record(String scenario, FaultLoad.Report r, String extra) {
    System.out.println("FAULT " + scenario + ": " + r.summary() + (extra.isEmpty() ? "" : " " + extra));
  }

  /**
   * Every session not owned by one of {@code deadPods} survived; nothing was lost between
   * surviving sessions; nothing was duplicated among them.
   */
  static void assertLivePodsSessionsSurvive(String scenario, FaultLoad.Report r, Collection<String> deadPods) {
    List<String> failures = new ArrayList<>();
    List<String> endedOnLivePods = r.sessions().stream()
        .filter(s -> !s.survived() && !deadPods.contains(s.owner()))
        .map(s -> s.user() + " (sid " + s.sid() + ", owned by live " + s.owner() + ") ended " + s.endCondition())
        .toList();
    if (!endedOnLivePods.isEmpty()) {
      failures.add(endedOnLivePods.size() + " sessions of live pods ended: "
          + endedOnLivePods.subList(0, Math.min(20, endedOnLivePods.size())));
    }
    List<FaultLoad.Lost> lost = r.lostBetweenSurvivors();
    if (!lost.isEmpty()) {
      failures.add(lost.size() + " messages lost between surviving sessions (accepted with 200, never delivered): "
          + lost.subList(0, Math.min(20, lost.size())));
    }
    if (r.duplicatedAmongSurvivors() > 0) {
      failures.add(r.duplicatedAmongSurvivors() + " messages delivered twice to surviving sessions");
    }
    if (!failures.isEmpty()) {
      throw new AssertionError(scenario + ": users lost something.\n- " + String.join("\n- ", failures)
          + "\n" + r.describe());
    }
  }

  /**
   * Every session of {@code deadPods} ended with {@code condition}, and learned it within the
   * documented bound after {@code faultAtNanos}; returns the longest time it took.
   */
  static long assertDeadPodsSessionsTold(String scenario, FaultLoad.Report r, Set<String> deadPods, long faultAtNanos,
      String condition, long boundMs) {
    List<String> failures = new ArrayList<>();
    for (FaultLoad.SessionReport s : r.ownedBy(deadPods)) {
      if (s.survived()) {
        failures.add(s.user() + " (sid " + s.sid() + ", owned by dead " + s.owner() + ") was never told its session ended");
      } else if (!condition.equals(s.endCondition())) {
        failures.add(s.user() + " (owned by dead " + s.owner() + ") ended " + s.endCondition() + ", expected " + condition);
      } else {
        long ms = (s.endedAtNanos() - faultAtNanos) / 1_000_000;
        if (ms > boundMs) {
          failures.add(s.user() + " (owned by dead " + s.owner() + ") told after " + ms + " ms > bound " + boundMs + " ms");
        }
      }
    }
    if (r.ownedBy(deadPods).isEmpty()) {
      failures.add("no session was owned by " + deadPods + ": the scenario proves nothing");
    }
    if (!failures.isEmpty()) {
      throw new AssertionError(scenario + ": dead pods' sessions not told as documented ("
          + failures.size() + "):\n- " + String.join("\n- ", failures.subList(0, Math.min(30, failures.size())))
          + "\n" + r.describe());
    }
    return r.maxDetectionMs(deadPods, faultAtNanos);
  }

  /** Ends every surviving session and checks Redis keeps nothing of them or of pods gone. */
  static void assertNothingLeftBehind(FaultCluster c) {
    c.assertNothingLeftBehind(true, java.time.Duration.ofSeconds(20));
  }
}
