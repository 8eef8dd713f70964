package io.xbosh.polling;

/** A poll that is answered with one of the XEP-0025 error identifiers. */
public final class PollException extends RuntimeException {

  private final PollError error;

  public PollException(PollError error, String message) {
    super(message, null, false, false);
    this.error = error;
  }

  public PollError error() {
    return error;
  }
}
