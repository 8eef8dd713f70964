package io.xbosh.polling;

/**
 * XEP-0025 §3.1: the identifiers that report an error instead of naming a session. Each ends in
 * {@code :0}; the client drops the session on any of them.
 */
public enum PollError {
  /** Unknown Error: the identifier names no live session (it expired, ended, or never existed). */
  UNKNOWN("0:0"),
  /** Server Error: xbosh or the XMPP server could not serve the poll. */
  SERVER("-1:0"),
  /** Bad Request: the body is not {@code identifier;key[;new_key],xml}, or breaks the polling rules. */
  BAD_REQUEST("-2:0"),
  /** Key Sequence Error: the key does not hash to the one sent before. */
  KEY_SEQUENCE("-3:0");

  private final String id;

  PollError(String id) {
    this.id = id;
  }

  /** The identifier sent in {@code Set-Cookie: ID=...}. */
  public String id() {
    return id;
  }
}
