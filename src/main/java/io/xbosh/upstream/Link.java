package io.xbosh.upstream;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.xbosh.protocol.SessionParams;
import io.xbosh.session.Forward;
import java.util.Collection;

/**
 * What a session's first stream is linked to on its owner pod: a c2s stream to an XMPP server
 * ({@link UpstreamLink}), or a service xbosh speaks XMPP for itself (the AMQP link of
 * {@code io.xbosh.amqp}). {@link SessionLinks} drives either the same way; every method but
 * {@link #context()} and {@link #params()} is called on {@link #context()}'s event loop, or hops to it.
 */
public interface Link {

  /** The event loop the link is confined to. */
  Context context();

  SessionParams params();

  /** The BOSH client's address this link was opened for; null when unknown. */
  String clientAddress();

  /** Succeeds once the client has authenticated (SASL success); fails when the link closes first. */
  Future<Void> authenticated();

  /** Starts passing stanzas for the client to the sink; an already closed link says so at once. */
  void attach(LinkSink sink);

  /** Applies one client forward, in the session's order. */
  void apply(Forward f);

  /** Whether client payloads can be applied now; else {@code whenWritable} runs once they can. */
  boolean writable(Runnable whenWritable);

  /** Stanzas the client will never read (XEP-0206 §7): sent back to where they came from. */
  void bounce(Collection<String> stanzas);

  /** Closes without a stream end (the session expired or is gone). */
  void abort();

  /** Ends cleanly (pod shutdown). */
  void shutdown();
}
