package io.xbosh.upstream;

import io.vertx.core.Future;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.SessionStore.Delivery;
import java.util.List;

/** Where an upstream link sends what the server says; implemented by the pod, which answers held requests. */
public interface LinkSink {

  /** Server stanzas for the client, in order; the link sends the next batch only after this completes. */
  Future<Delivery> deliver(String sid, List<String> stanzas);

  /**
   * The server ended the stream or the link failed.
   *
   * @param condition null for a clean close by the server
   * @param children  extra children for the terminate body, e.g. the server's stream error
   */
  Future<Void> ended(String sid, TerminateCondition condition, String children);

  /** The link is closed and can be forgotten. */
  void closed(String sid);
}
