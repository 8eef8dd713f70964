package io.xbosh.session;

import io.xbosh.protocol.SessionParams;

/**
 * What the store keeps about a new session.
 *
 * @param sid      session id
 * @param params   negotiated parameters
 * @param owner    pod that owns the upstream link
 * @param rid      the creation request's rid
 * @param newKey   the creation request's {@code newkey} (XEP-0124 §15), or null
 * @param stream   the first stream's name (XEP-0124 §16.2), or null when streams are off
 * @param encrypted whether the creation request came over HTTPS: then every later request must
 *                 (XEP-0124 §19.1)
 */
public record SessionRecord(String sid, SessionParams params, String owner, long rid, String newKey, String stream,
    boolean encrypted) {

  public SessionRecord(String sid, SessionParams params, String owner, long rid) {
    this(sid, params, owner, rid, null, null, false);
  }

  public SessionRecord(String sid, SessionParams params, String owner, long rid, String newKey) {
    this(sid, params, owner, rid, newKey, null, false);
  }
}
