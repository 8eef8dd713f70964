package io.xbosh.session;

class InMemorySessionStoreTest extends SessionStoreContract {

  private final InMemorySessionStore store = new InMemorySessionStore(maxOut(), 60);

  @Override
  SessionStore store() {
    return store;
  }
}
