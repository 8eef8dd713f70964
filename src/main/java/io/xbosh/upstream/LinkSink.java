package io.xbosh.upstream;

import io.vertx.core.Future;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.SessionStore.Delivery;
import java.util.List;

/**
 * Where an upstream link sends what the server says. Every method names the link's session and
 * stream ({@code stream} null for the session's first stream).
 */
public interface LinkSink {

  /**
   * Server stanzas for the client, in order; the link sends the next batch only after this
   * completes. A batch that failed or met a full queue comes again, the same stanzas with the same
   * {@code token} ({@code <link>:<n>}, see {@link io.xbosh.session.SessionStore#deliver(String, String, String, List)}),
   * so one whose reply was lost is not applied twice.
   */
  Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas);

  /**
   * The server ended the stream or the link failed.
   *
   * @param condition null for a clean close by the server
   * @param children  extra children for the terminate body, e.g. the server's stream error
   */
  Future<Void> ended(String sid, String stream, TerminateCondition condition, String children);

  /** The link is closed and can be forgotten. */
  void closed(String sid, String stream);
}
