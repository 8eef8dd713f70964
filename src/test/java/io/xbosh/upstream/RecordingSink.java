package io.xbosh.upstream;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.SessionStore.Delivery;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;

/**
 * A {@link LinkSink} that records what a link reports. Deliveries complete at once with OK unless
 * {@link #holdDeliveries} is set: then each waits until the test completes it, as a store round trip
 * would (on the link's event loop, where the real store's answer arrives).
 */
final class RecordingSink implements LinkSink {

  /** A delivery waiting for the test. */
  record Held(List<String> stanzas, Promise<Delivery> promise, Context context) {
    void complete(Delivery d) {
      context.runOnContext(v -> promise.complete(d));
    }

    /** The store's reply never came (a connection reset): the batch may or may not have been applied. */
    void fail(String message) {
      context.runOnContext(v -> promise.fail(message));
    }
  }

  final List<String> events = new CopyOnWriteArrayList<>();
  final List<List<String>> batches = new CopyOnWriteArrayList<>();
  final ConcurrentLinkedQueue<Held> held = new ConcurrentLinkedQueue<>();
  volatile boolean holdDeliveries;
  /** answers given to deliveries that complete at once, in turn; OK once used up */
  final ConcurrentLinkedQueue<Delivery> answers = new ConcurrentLinkedQueue<>();
  /** like the store's queue bound with an all-or-nothing deliver: larger batches are FULL */
  volatile int refuseAbove = Integer.MAX_VALUE;
  /** the token of each batch, as {@link #batches} */
  final List<String> tokens = new java.util.concurrent.CopyOnWriteArrayList<>();
  /** end reports that fail (the store is unreachable) before one succeeds */
  final java.util.concurrent.atomic.AtomicInteger failEnds = new java.util.concurrent.atomic.AtomicInteger();

  @Override
  public Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas) {
    List<String> copy = List.copyOf(stanzas);
    batches.add(copy);
    tokens.add(token);
    events.add("deliver " + String.join("", copy));
    if (holdDeliveries) {
      Promise<Delivery> p = Promise.promise();
      held.add(new Held(copy, p, io.vertx.core.Vertx.currentContext()));
      return p.future();
    }
    if (copy.size() > refuseAbove) {
      return Future.succeededFuture(Delivery.FULL);
    }
    Delivery d = answers.poll();
    return Future.succeededFuture(d != null ? d : new Delivery(Delivery.Status.OK, List.of()));
  }

  @Override
  public Future<Void> ended(String sid, String stream, TerminateCondition condition, String children) {
    events.add("ended " + (condition == null ? "clean" : condition.wireName()) + (children.isEmpty() ? "" : " " + children));
    if (failEnds.getAndDecrement() > 0) {
      return Future.failedFuture("store unreachable");
    }
    return Future.succeededFuture();
  }

  @Override
  public void closed(String sid, String stream) {
    events.add("closed");
  }

  long count(String prefix) {
    return events.stream().filter(e -> e.startsWith(prefix)).count();
  }

  /** Every stanza delivered (in batches, in order), joined. */
  String delivered() {
    return batches.stream().flatMap(List::stream).collect(Collectors.joining());
  }

  List<String> kinds() {
    List<String> k = new ArrayList<>();
    for (String e : events) {
      k.add(e.split(" ")[0]);
    }
    return k;
  }
}
