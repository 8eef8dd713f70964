package io.xbosh.session;

class InMemorySessionStoreTest extends SessionStoreContract {

  private final InMemorySessionStore store = new InMemorySessionStore(maxOut(), 60);

  @Override
  SessionStore store() {
    return store;
  }

  @Override
  SessionStore store(int maxOut, int maxOutBytes, int maxResponseBytes) {
    return new InMemorySessionStore(maxOut, maxOutBytes, maxResponseBytes, 60, SessionStore.DEFAULT_MAX_STREAMS, System::currentTimeMillis);
  }
}
