package io.xbosh.session;

import io.xbosh.protocol.SessionParams;

/**
 * What the store keeps about a new session.
 *
 * @param sid      session id
 * @param params   negotiated parameters
 * @param owner    pod that owns the upstream link
 * @param rid      the creation request's rid
 * @param response the creation response, buffered for retransmission
 * @param newKey   the creation request's {@code newkey} (XEP-0124 §15), or null
 */
public record SessionRecord(String sid, SessionParams params, String owner, long rid, String response, String newKey) {

  public SessionRecord(String sid, SessionParams params, String owner, long rid, String response) {
    this(sid, params, owner, rid, response, null);
  }
}
