package io.xbosh.session;

import io.xbosh.protocol.SessionParams;

/**
 * What the store keeps about a new session.
 *
 * @param sid      session id
 * @param params   negotiated parameters
 * @param owner    pod that owns the upstream link
 * @param rid      the creation request's rid
 * @param response the creation response; the stores do not buffer it: only a client that has it
 *                 knows the sid, so no request can resend its rid
 * @param newKey   the creation request's {@code newkey} (XEP-0124 §15), or null
 * @param stream   the first stream's name (XEP-0124 §16.2), or null when streams are off
 * @param encrypted whether the creation request came over HTTPS: then every later request must
 *                 (XEP-0124 §19.1)
 */
public record SessionRecord(String sid, SessionParams params, String owner, long rid, String response, String newKey, String stream,
    boolean encrypted) {

  public SessionRecord(String sid, SessionParams params, String owner, long rid, String response) {
    this(sid, params, owner, rid, response, null, null, false);
  }

  public SessionRecord(String sid, SessionParams params, String owner, long rid, String response, String newKey) {
    this(sid, params, owner, rid, response, newKey, null, false);
  }
}
