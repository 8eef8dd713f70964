package io.xbosh.session;

/** The store contract against the in-process store, on a {@link TestClock}. */
class InMemorySessionStoreTest extends SessionStoreContract {

  private final TestClock clock = new TestClock(System.currentTimeMillis());
  private final InMemorySessionStore store = new InMemorySessionStore(maxOut(), 60, SessionStore.DEFAULT_MAX_STREAMS, clock::millis);

  @Override
  SessionStore store() {
    return store;
  }

  @Override
  SessionStore store(int maxOut, int maxOutBytes, int maxResponseBytes) {
    return new InMemorySessionStore(maxOut, maxOutBytes, maxResponseBytes, 60, SessionStore.DEFAULT_MAX_STREAMS, clock::millis);
  }

  @Override
  void advance(long ms) throws Exception {
    clock.advance(ms);
  }
}
