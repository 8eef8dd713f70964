package io.xbosh.websocket;

/** The stream error conditions xbosh itself sends on a WebSocket (RFC 6120 §4.9.3), with their wire names. */
public enum StreamError {
  CONNECTION_TIMEOUT("connection-timeout"),
  HOST_UNKNOWN("host-unknown"),
  IMPROPER_ADDRESSING("improper-addressing"),
  INVALID_NAMESPACE("invalid-namespace"),
  NOT_WELL_FORMED("not-well-formed"),
  POLICY_VIOLATION("policy-violation"),
  REMOTE_CONNECTION_FAILED("remote-connection-failed"),
  /** RFC 6120 §4.9.3.16: the client should connect again (an operator ending a stream) */
  RESET("reset"),
  RESTRICTED_XML("restricted-xml"),
  SYSTEM_SHUTDOWN("system-shutdown"),
  UNSUPPORTED_STANZA_TYPE("unsupported-stanza-type"),
  UNSUPPORTED_VERSION("unsupported-version");

  private final String wire;

  StreamError(String wire) {
    this.wire = wire;
  }

  public String wire() {
    return wire;
  }

  /** The condition of a wire name, or null for none xbosh sends. */
  public static StreamError fromWire(String name) {
    for (StreamError e : values()) {
      if (e.wire.equals(name)) {
        return e;
      }
    }
    return null;
  }
}
