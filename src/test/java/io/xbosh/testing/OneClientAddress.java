package io.xbosh.testing;

import java.util.Map;

/**
 * Tests run every client from 127.0.0.1, where a deployment sees many addresses: the per-address
 * limits (connections, requests, session creation) would count them all as one client. Pods
 * started by tests get these settings unless a test sets its own; the hostile-client suite sets
 * small ones on purpose.
 */
public final class OneClientAddress {

  public static final Map<String, String> LIMITS_OFF = Map.of(
      "XBOSH_CREATES_PER_SECOND", "0",
      "XBOSH_MAX_PREAUTH_PER_ADDRESS", "1000000",
      "XBOSH_MAX_PREAUTH_SESSIONS", "1000000",
      "XBOSH_MAX_HELD_PER_ADDRESS", "10000000",
      "XBOSH_MAX_CONNECTIONS_PER_ADDRESS", "0",
      // tests check behaviour, not speed: pods start ready without warming up (WarmupIT turns it on)
      "XBOSH_WARMUP_SESSIONS", "0");

  private OneClientAddress() {
  }

  /** The settings with the per-address limits off where they say nothing of them. */
  public static Map<String, String> withLimitsOff(Map<String, String> env) {
    Map<String, String> all = new java.util.HashMap<>(LIMITS_OFF);
    all.putAll(env);
    return all;
  }
}
