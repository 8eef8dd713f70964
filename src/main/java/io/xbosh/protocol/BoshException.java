package io.xbosh.protocol;

/**
 * A protocol failure that ends in a terminal binding condition on the wire. Thrown by pure protocol
 * code, carried as a failed {@code Future} through the I/O layers and turned into a
 * {@code <body type='terminate' condition='...'/>} in one place.
 */
public final class BoshException extends RuntimeException {

  private final TerminateCondition condition;
  private final String children;

  public BoshException(TerminateCondition condition, String message) {
    this(condition, message, "");
  }

  /** @param children serialised children for the terminate body, e.g. a server's stream error */
  public BoshException(TerminateCondition condition, String message, String children) {
    super(message, null, false, false);
    this.condition = condition;
    this.children = children;
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
