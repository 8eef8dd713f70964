package io.xbosh.cluster;

import io.vertx.core.Future;
import java.util.List;
import java.util.Set;
import java.util.function.LongPredicate;

/**
 * How pods of one deployment reach each other: the notices a pod receives (answers for requests it
 * holds, payloads waiting for links it owns) and which pods are alive. Messages that carry session
 * state are written by the store's scripts; the bus only listens, and keeps the liveness records.
 */
public interface PodBus {

  /** What a pod is told. Called on the bus's own context; implementations hop where they need to. */
  interface Listener {

    /** A request this pod holds has its answer (decided on another pod). */
    void answer(String holder, String body);

    /** Client payloads accepted by another pod wait in the store for a session this pod owns. */
    void payloadsWaiting(String sid);

    /** A session this pod owns ended on another pod (its sweep would find it later). */
    default void endedElsewhere(String sid) {
    }

    /** The channel was re-established: notices may have been missed meanwhile. */
    void resubscribed();

    /**
     * Answers for requests registered under these channel numbers ({@link #listening}) may have
     * been lost (a sharded channel dropped or moved): ask the store what they are owed.
     */
    default void answersMaybeLost(LongPredicate channels) {
    }

    /** These sessions were owned by a pod that stopped (or by this pod's previous run): end them. */
    void orphaned(Set<String> sids);

    /**
     * Another pod declared this one dead (it was frozen, or cut off from Redis, for longer than the
     * dead time) and ended its sessions in the store: close every link now.
     *
     * @return completes when no link is left
     */
    Future<Void> evicted();

    /** The sessions whose links this pod holds right now. */
    Set<String> ownedSids();
  }

  Future<Void> start(Listener listener);

  /** The pod has finished starting and serves: its liveness no longer allows for its start-up. */
  default void serving() {
  }

  /** Whether the pod is alive as far as this pod can tell (unknown pods count as alive). */
  boolean alive(String podId);

  /**
   * How many other pods of the deployment are alive as far as this pod knows (their heartbeats
   * have not run out), or -1 while it does not know. A draining pod with none to send its clients
   * to keeps holding their requests.
   */
  default int otherLivePods() {
    return -1;
  }

  /**
   * Whether this pod can serve: Redis has answered it recently (not after one failed beat, only
   * once it has been unreachable for the dead time) and it has not been declared dead.
   */
  boolean healthy();

  /** Records that this pod owns the session, so that a survivor can end it if this pod dies. */
  void owned(String sid);

  /** The session's link is gone from this pod. */
  void disowned(String sid);

  /**
   * The ids of the pods with liveness records (alive, or not yet declared dead), for the admin API;
   * empty where the bus knows no other pods.
   */
  default Future<List<String>> pods() {
    return Future.succeededFuture(List.of());
  }

  Future<Void> stop();

  /**
   * The channel this pod receives answers on, as a number that changes whenever the channel drops
   * or comes back; -1 while it is down, or when {@link #fence} cannot order it. Noted by a held
   * request when it is registered: a {@link #fence} completing with the same number says the channel
   * has been up, and the same, since then.
   */
  default long channel() {
    return -1;
  }

  /**
   * Where a request of the session held on this pod receives its answers: a suffix for its holder
   * id (the store's scripts route an answer by its holder) and the number of that channel, as
   * {@link #channel()}. On a Redis Cluster, the pod's sharded channel in the session's slot once it
   * is subscribed; otherwise the pod channel.
   */
  default Listening listening(String sid) {
    return new Listening("", channel());
  }

  /** @param holderSuffix appended to the holder id; @param channel the channel's number, -1 when it does not fence */
  record Listening(String holderSuffix, long channel) {
  }

  /**
   * One fence for the channels (numbers from {@link #listening}) of the requests whose waits end
   * together: completes with the numbers it vouches for, each once every answer published to that
   * channel before the fence has been handed to the listener. Never vouches for -1.
   */
  default Future<LongPredicate> fence(long[] channels) {
    return fence().map(n -> c -> c == n && c >= 0);
  }

  /**
   * Completes, with {@link #channel()}'s number of the channel it ran on, once every answer published
   * to this pod before it has been handed to the listener ({@link Listener#answer}); fails when the
   * channel is down or drops, or after a time. Cheap enough to run once per timer wheel tick.
   */
  default Future<Long> fence() {
    return Future.failedFuture("no fence");
  }

  /** The bus of a single pod: nobody else to reach, nobody else alive. */
  PodBus LOCAL = new PodBus() {
    @Override
    public Future<Void> start(Listener listener) {
      return Future.succeededFuture();
    }

    @Override
    public boolean alive(String podId) {
      return true;
    }

    @Override
    public boolean healthy() {
      return true;
    }

    @Override
    public int otherLivePods() {
      return 0;
    }

    @Override
    public void owned(String sid) {
    }

    @Override
    public void disowned(String sid) {
    }

    @Override
    public Future<Void> stop() {
      return Future.succeededFuture();
    }

    /** Every answer reaches the pod in the reply of its own store call: nothing is ever on its way. */
    @Override
    public long channel() {
      return 0;
    }

    @Override
    public Future<Long> fence() {
      return Future.succeededFuture(0L);
    }
  };
}
