package io.xbosh.session;

import io.vertx.core.Future;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.List;
import java.util.function.Supplier;

/**
 * The command client of a Sentinel deployment: a Sentinel client that is replaced by a new one when
 * the master moves ({@link #renew}), so no command goes to the old master after the pod has heard of
 * the switch. The new client resolves the master afresh (the old one's cached topology may name the
 * old master for up to a second); closing the old one fails what it still had in flight, which the
 * callers treat like any store failure (the client resends, and the new master decides).
 */
public final class SwitchingRedis implements Redis {

  private final Supplier<Redis> factory;
  private final Supplier<Future<Void>> onClose;
  private volatile Redis current;
  private volatile boolean closed;

  /** @param onClose what else closes with it (the watch that calls {@link #renew}) */
  public SwitchingRedis(Supplier<Redis> factory, Supplier<Future<Void>> onClose) {
    this.factory = factory;
    this.onClose = onClose;
    this.current = factory.get();
  }

  /** A fresh client for every command from now on; the previous one is closed. */
  public void renew() {
    if (closed) {
      return;
    }
    Redis old = current;
    current = factory.get();
    old.close();
  }

  @Override
  public Future<RedisConnection> connect() {
    return current.connect();
  }

  @Override
  public Future<Void> close() {
    closed = true;
    return Future.join(onClose.get(), current.close()).mapEmpty();
  }

  @Override
  public Future<Response> send(Request command) {
    return current.send(command);
  }

  @Override
  public Future<List<Response>> batch(List<Request> commands) {
    return current.batch(commands);
  }
}
