package io.xbosh.protocol;

/**
 * A protocol failure that ends in a terminal binding condition on the wire. Thrown by pure protocol
 * code, carried as a failed {@code Future} through the I/O layers and turned into a
 * {@code <body type='terminate' condition='...'/>} in one place.
 */
public final class BoshException extends RuntimeException {

  private final TerminateCondition condition;
  private final String children;
  private final boolean legacy;

  public BoshException(TerminateCondition condition, String message) {
    this(condition, message, "");
  }

  /** @param children serialised children for the terminate body, e.g. a server's stream error */
  public BoshException(TerminateCondition condition, String message, String children) {
    this(condition, message, children, false);
  }

  private BoshException(TerminateCondition condition, String message, String children, boolean legacy) {
    super(message, null, false, false);
    this.condition = condition;
    this.children = children;
    this.legacy = legacy;
  }

  /** The same failure, for a session whose client expects legacy HTTP error codes (XEP-0124 §17.1). */
  public BoshException forLegacy(boolean legacyClient) {
    return legacyClient == legacy ? this : new BoshException(condition, getMessage(), children, legacyClient);
  }

  /** Whether the failed request belongs to a legacy client's session. */
  public boolean legacy() {
    return legacy;
  }

  /** The HTTP status of this failure's answer: 200, or the legacy code for a legacy client. */
  public int httpStatus() {
    return legacy ? condition.legacyHttpStatus() : 200;
  }

  public TerminateCondition condition() {
    return condition;
  }

  public String children() {
    return children;
  }

  public static BoshException badRequest(String message) {
    return new BoshException(TerminateCondition.BAD_REQUEST, message);
  }
}
