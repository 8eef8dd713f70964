package io.xbosh.protocol;

/**
 * Terminal binding conditions of XEP-0124 §17.2, each carrying its wire name and the HTTP status a
 * legacy client (one that sent no {@code ver}) receives instead (§17.1).
 */
public enum TerminateCondition {

  BAD_REQUEST("bad-request", 400),
  HOST_GONE("host-gone", 200),
  HOST_UNKNOWN("host-unknown", 200),
  IMPROPER_ADDRESSING("improper-addressing", 200),
  INTERNAL_SERVER_ERROR("internal-server-error", 200),
  ITEM_NOT_FOUND("item-not-found", 404),
  OTHER_REQUEST("other-request", 200),
  POLICY_VIOLATION("policy-violation", 403),
  REMOTE_CONNECTION_FAILED("remote-connection-failed", 200),
  REMOTE_STREAM_ERROR("remote-stream-error", 200),
  SEE_OTHER_URI("see-other-uri", 200),
  SYSTEM_SHUTDOWN("system-shutdown", 200),
  UNDEFINED_CONDITION("undefined-condition", 200);

  private final String wireName;
  private final int legacyHttpStatus;

  TerminateCondition(String wireName, int legacyHttpStatus) {
    this.wireName = wireName;
    this.legacyHttpStatus = legacyHttpStatus;
  }

  /** The value of the {@code condition} attribute. */
  public String wireName() {
    return wireName;
  }

  /** XEP-0124 §17.1: the HTTP status a client that sent no {@code ver} gets instead of this condition. */
  public int legacyHttpStatus() {
    return legacyHttpStatus;
  }

  public static TerminateCondition fromWireName(String name) {
    for (TerminateCondition c : values()) {
      if (c.wireName.equals(name)) {
        return c;
      }
    }
    throw new IllegalArgumentException("unknown condition: " + name);
  }
}
