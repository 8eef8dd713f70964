package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Future;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The {@link SessionStore} contract, run against every implementation. Bodies are compared byte for
 * byte, so the Lua scripts and the in-process store cannot drift apart.
 */
abstract class SessionStoreContract {

  static final String OPEN = BodyWriter.OPEN;
  static final String EMPTY = OPEN + "/>";
  static final String MSG = "<message xmlns=\"jabber:client\"><body>x</body></message>";
  static final String MSG2 = "<message xmlns=\"jabber:client\"><body>y</body></message>";

  abstract SessionStore store();

  /** A store of the same kind with other bounds: stanzas and bytes waiting, bytes per response. */
  abstract SessionStore store(int maxOut, int maxOutBytes, int maxResponseBytes);

  /**
   * The stores' clock moves on by {@code ms}. A store on a {@link TestClock} jumps at once, keys
   * expiring as the clock passes them. Here, for a store on Redis' own clock (SecureRedisIT: the
   * production ACL, so the scripts run unedited), that much wall time passes, a condition and not a
   * sleep; each test's assertions hold for any wait at least that long, so a loaded machine only
   * makes it slower.
   */
  void advance(long ms) throws Exception {
    long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    await().atMost(Duration.ofMillis(ms + 60_000)).pollInterval(Duration.ofMillis(20)).until(() -> System.nanoTime() - until >= 0);
  }

  /** Past the 1 s inactivity of the sessions that expire in these tests. */
  static final long PAST_ONE_SECOND = 1100;

  String newSession(SessionStore store, int hold) throws Exception {
    String sid = UUID.randomUUID().toString();
    get(store.create(new SessionRecord(sid, params(hold, 30, 60, false), "pod-a", 100)));
    return sid;
  }

  static <T> T get(Future<T> f) throws Exception {
    try {
      return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception ex ? ex : new IllegalStateException(e.getCause());
    }
  }

  /** Parameters without a polling limit (B-45), so that tests may poll as fast as they like. */
  static SessionParams params(int hold, int wait, int inactivity, boolean ack) {
    return params(hold, wait, inactivity, ack, 0);
  }

  static SessionParams params(int hold, int wait, int inactivity, boolean ack, int polling) {
    return new SessionParams(wait, hold, hold + 1, inactivity, polling, "1.11", "text/xml; charset=utf-8", ack,
        "localhost", "en", null, null);
  }

  String newSession(int hold, boolean ack) throws Exception {
    return newSession(params(hold, 30, 60, ack));
  }

  String newSession(SessionParams p) throws Exception {
    String sid = UUID.randomUUID().toString();
    get(store().create(new SessionRecord(sid, p, "pod-a", 100)));
    return sid;
  }

  @Test
  void b21_inOrderRequestForwardedAndHeld() throws Exception {
    String sid = newSession(1, false);
    Accepted a = get(store().accept(sid, 101, "pod-a#1", RequestFlags.NONE, "<presence/>"));
    assertThat(a.outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    assertThat(a.owner()).isEqualTo("pod-a");
    assertThat(a.content()).isEqualTo("text/xml; charset=utf-8");
    assertThat(a.waitSeconds()).isEqualTo(30);
    assertThat(a.forwards()).containsExactly(new Forward(1, "<presence/>", false, false));
    assertThat(a.answers()).isEmpty();
  }

  @Test
  void b21_onlyRequestsCarryingSomethingAreNumberedForTheLink() throws Exception {
    String sid = newSession(2, false);
    assertThat(get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "")).forwards()).isEmpty();
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withRestart(), "")).forwards()).containsExactly(new Forward(1, "", true, false));
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE.withPause(10), "")).forwards()).isEmpty();
    assertThat(get(store().accept(sid, 104, "p#4", RequestFlags.NONE, "<presence/>")).forwards()).containsExactly(new Forward(2, "<presence/>", false, false));
  }

  @Test
  void b23_b25_stanzasGoToTheHeldRequestAllTogetherInOrder() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "pod-a#1", RequestFlags.NONE, ""));
    SessionStore.Delivery d = get(store().deliver(sid, List.of(MSG, MSG2)));
    assertThat(d.answers()).containsExactly(new Answer(101, "pod-a#1", OPEN + ">" + MSG + MSG2 + "</body>"));
  }

  @Test
  void b25_stanzasWaitingBeforeARequestAnswerItAtOnce() throws Exception {
    String sid = newSession(1, false);
    assertThat(get(store().deliver(sid, List.of(MSG))).answers()).isEmpty();
    assertThat(get(store().deliver(sid, List.of(MSG2))).answers()).isEmpty();
    Accepted a = get(store().accept(sid, 101, "pod-a#1", RequestFlags.NONE, ""));
    assertThat(a.answers()).containsExactly(new Answer(101, "pod-a#1", OPEN + ">" + MSG + MSG2 + "</body>"));
  }

  @Test
  void aDeliveryRetriedWithItsTokenAfterALostReplyIsAppliedOnce() throws Exception {
    String sid = newSession(1, false);
    assertThat(get(store().deliver(sid, null, "l1:1", List.of(MSG))).answers()).isEmpty();
    // the reply was lost: the link sends the same batch with the same token
    SessionStore.Delivery again = get(store().deliver(sid, null, "l1:1", List.of(MSG)));
    assertThat(again.status()).isEqualTo(SessionStore.Delivery.Status.OK);
    assertThat(again.answers()).isEmpty();
    // the link's next batch, and another link's first, go in
    get(store().deliver(sid, null, "l1:2", List.of(MSG2)));
    get(store().deliver(sid, null, "l2:1", List.of(MSG)));
    get(store().deliver(sid, null, "l1:2", List.of(MSG2)));
    get(store().deliver(sid, null, "l2:1", List.of(MSG)));
    // an older token of a link applies nothing either
    get(store().deliver(sid, null, "l1:1", List.of(MSG)));
    Accepted a = get(store().accept(sid, 101, "pod-a#1", RequestFlags.NONE, ""));
    assertThat(a.answers()).containsExactly(new Answer(101, "pod-a#1", OPEN + ">" + MSG + MSG2 + MSG + "</body>"));
  }

  @Test
  void aRetriedDeliveryThatAnsweredAHeldRequestGivesTheSameAnswerAgainAndAppendsNothing() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "pod-a#1", RequestFlags.NONE, ""));
    String body = OPEN + ">" + MSG + "</body>";
    SessionStore.Delivery first = get(store().deliver(sid, null, "l1:7", List.of(MSG)));
    assertThat(first.answers()).containsExactly(new Answer(101, "pod-a#1", body));
    // the reply carrying that answer was lost: the retry gives it again, from the buffered response
    SessionStore.Delivery again = get(store().deliver(sid, null, "l1:7", List.of(MSG)));
    assertThat(again.status()).isEqualTo(SessionStore.Delivery.Status.OK);
    assertThat(again.answers()).containsExactly(new Answer(101, "pod-a#1", body));
    // nothing was appended: the next request is held, not answered with the stanza a second time
    assertThat(get(store().accept(sid, 102, "pod-a#2", RequestFlags.NONE, "")).answers()).isEmpty();
    assertThat(get(store().release(sid, 102, "pod-a#2"))).isEqualTo(EMPTY);
    // the buffered response for a resend of rid 101 is the first one, once
    assertThat(get(store().answered(sid, 101, "pod-a#1"))).isEqualTo(body);
  }

  @Test
  void aRetriedDeliveryOfAnotherStreamIsAppliedOnce() throws Exception {
    String sid = streamSession(1);
    assertThat(get(store().accept(sid, 101, "p#1", opening("second"), streamRequest("example.org"))).answers()).hasSize(1);
    // each stream has a link of its own, with its own tokens
    get(store().deliver(sid, "second", "l9:1", List.of(MSG)));
    get(store().deliver(sid, "second", "l9:1", List.of(MSG)));
    get(store().deliver(sid, null, "l8:1", List.of(MSG2)));
    get(store().deliver(sid, "second", "l9:1", List.of(MSG)));
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "")).answers())
        .containsExactly(new Answer(102, "p#2", OPEN + " stream=\"second\">" + MSG + "</body>"));
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "")).answers())
        .containsExactly(new Answer(103, "p#3", OPEN + " stream=\"" + FIRST + "\">" + MSG2 + "</body>"));
    assertThat(get(store().accept(sid, 104, "p#4", RequestFlags.NONE, "")).answers()).isEmpty();
  }

  @Test
  void aDeliveryRefusedAsFullIsNotRememberedSoItsRetryGoesIn() throws Exception {
    SessionStore small = store(2, SessionStore.DEFAULT_MAX_QUEUED_BYTES, SessionStore.DEFAULT_MAX_RESPONSE_BYTES);
    String sid = newSession(small, 1);
    get(small.deliver(sid, null, "l1:1", List.of(MSG, MSG)));
    assertThat(get(small.deliver(sid, null, "l1:2", List.of(MSG2)))).isEqualTo(SessionStore.Delivery.FULL);
    Accepted a = get(small.accept(sid, 101, "pod-a#1", RequestFlags.NONE, ""));
    assertThat(a.answers()).containsExactly(new Answer(101, "pod-a#1", OPEN + ">" + MSG + MSG + "</body>"));
    assertThat(get(small.accept(sid, 102, "pod-a#2", RequestFlags.NONE, "")).answers()).isEmpty();
    assertThat(get(small.deliver(sid, null, "l1:2", List.of(MSG2))).answers())
        .containsExactly(new Answer(102, "pod-a#2", OPEN + ">" + MSG2 + "</body>"));
  }

  @Test
  void b24_oldestHeldAnsweredWhenHoldExceeded() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "pod-a#1", RequestFlags.NONE, ""));
    Accepted a = get(store().accept(sid, 102, "pod-b#1", RequestFlags.NONE, ""));
    assertThat(a.answers()).containsExactly(new Answer(101, "pod-a#1", EMPTY));
  }

  /**
   * Why a pod answers a held request only with what a deliver's reply gave it (docs/ARCHITECTURE.md,
   * "A warm step: the two round trips that stay"): a later request, on any pod, decides the held
   * request's answer in the store while a deliver may still be on its way, and a resend of the held
   * rid gets what the store decided. A pod that had written the deliver's stanzas into the held
   * request before the reply (write-behind) would have the client see them twice (in that answer
   * and in the later request's), or never (its connection broke, and the resend gets the empty
   * answer): the store cannot tell which the client got.
   */
  @Test
  void b24_b28_aLaterRequestDecidesTheHeldAnswerBeforeADeliverySoItsStanzasGoOnceToTheLaterRequest() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "pod-a#1", RequestFlags.NONE, ""));
    // the client's next request lands on another pod before the delivery for rid 101 arrives
    assertThat(get(store().accept(sid, 102, "pod-b#1", RequestFlags.NONE, "")).answers())
        .containsExactly(new Answer(101, "pod-a#1", EMPTY));
    SessionStore.Delivery d = get(store().deliver(sid, null, "l1:1", List.of(MSG)));
    assertThat(d.answers()).containsExactly(new Answer(102, "pod-b#1", OPEN + ">" + MSG + "</body>"));
    // a resend of 101 gets the answer the store decided for it, without the stanza
    Accepted resent = get(store().accept(sid, 101, "pod-c#1", RequestFlags.NONE, ""));
    assertThat(resent.outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertThat(resent.immediate()).isEqualTo(EMPTY);
    // and the stanza is in no later answer
    assertThat(get(store().accept(sid, 103, "pod-a#2", RequestFlags.NONE, "")).answers()).isEmpty();
    assertThat(get(store().release(sid, 103, "pod-a#2"))).isEqualTo(EMPTY);
  }

  @Test
  void b24_holdTwoKeepsTwo() throws Exception {
    String sid = newSession(2, false);
    assertThat(get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "")).answers()).isEmpty();
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "")).answers()).isEmpty();
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "")).answers()).containsExactly(new Answer(101, "p#1", EMPTY));
  }

  @Test
  void b28_resentRidGetsTheIdenticalResponse() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    String body = get(store().deliver(sid, List.of(MSG))).answers().get(0).body();
    Accepted again = get(store().accept(sid, 101, "p#9", RequestFlags.NONE, ""));
    assertThat(again.outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertThat(again.immediate()).isEqualTo(body);
    assertThat(again.forwards()).isEmpty();
    // the creation response is not: only a client that has it knows the sid, so its rid is never resent
    assertThatThrownBy(() -> get(store().accept(sid, 100, "p#10", RequestFlags.NONE, "")))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.ITEM_NOT_FOUND));
  }

  @Test
  void b28_b53_resendOfAHeldRidTakesOverAndTheOldCopyGetsARecoverableError() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "<presence/>"));
    Accepted again = get(store().accept(sid, 101, "q#1", RequestFlags.NONE, "<presence/>"));
    assertThat(again.outcome()).isEqualTo(Accepted.Outcome.TAKEOVER);
    assertThat(again.forwards()).isEmpty();
    assertThat(again.answers()).extracting(Answer::holder, Answer::body).containsExactly(
        org.assertj.core.groups.Tuple.tuple("p#1", BodyWriter.recoverableError()));
    assertThat(get(store().deliver(sid, List.of(MSG))).answers()).extracting(Answer::holder).containsExactly("q#1");
  }

  @Test
  void b28_responsesAClientMayStillResendStayBufferedUpToTwiceRequestsPlusOne() throws Exception {
    String sid = newSession(1, false); // requests = 2, wait = 30
    for (long rid = 101; rid <= 107; rid++) {
      get(store().accept(sid, rid, "p#" + rid, RequestFlags.NONE, ""));
    }
    // answered: 100 (creation), 101..106 (107 held); all younger than wait + margin, so the last
    // 2 x requests + 1 stay buffered, not only the last `requests`
    assertThat(SessionStore.cachedResponsesAtMost(2)).isEqualTo(5);
    for (long rid = 102; rid <= 106; rid++) {
      Accepted again = get(store().accept(sid, rid, "p#x" + rid, RequestFlags.NONE, ""));
      assertThat(again.outcome()).isEqualTo(Accepted.Outcome.RESENT);
      assertThat(again.immediate()).isEqualTo(EMPTY);
    }
    assertThatThrownBy(() -> get(store().accept(sid, 101, "p#z", RequestFlags.NONE, "")))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.ITEM_NOT_FOUND));
  }

  @Test
  void b28_responsesOlderThanWaitPlusTheMarginAreBufferedForTheLastRequestsOnly() throws Exception {
    String sid = newSession(params(1, 1, 60, false)); // requests = 2, wait = 1
    for (long rid = 101; rid <= 103; rid++) {
      get(store().accept(sid, rid, "p#" + rid, RequestFlags.NONE, ""));
    }
    // answered and young: 101, 102 both buffered (the creation response never is)
    assertThat(get(store().accept(sid, 101, "p#c", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.RESENT);
    advance(1000 + SessionStore.RESEND_MARGIN_MS + 200);
    // 103 answered now: of the old ones, only the last `requests` (102, 103) stay
    get(store().accept(sid, 104, "p#104", RequestFlags.NONE, ""));
    Accepted again = get(store().accept(sid, 102, "p#y", RequestFlags.NONE, ""));
    assertThat(again.outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertThat(again.immediate()).isEqualTo(EMPTY);
    assertThat(get(store().accept(sid, 103, "p#x", RequestFlags.NONE, "")).immediate()).isEqualTo(EMPTY);
    for (long rid : new long[] {100, 101}) {
      assertThatThrownBy(() -> get(store().accept(sid, rid, "p#z", RequestFlags.NONE, "")))
          .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.ITEM_NOT_FOUND));
    }
  }

  @Test
  void b27_ridAboveTheWindowIsItemNotFound() throws Exception {
    String sid = newSession(1, false);
    assertThatThrownBy(() -> get(store().accept(sid, 103, "p#1", RequestFlags.NONE, "")))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.ITEM_NOT_FOUND));
  }

  @Test
  void b27_earlyRidParkedUntilTheGapFills() throws Exception {
    String sid = newSession(1, false);
    Accepted early = get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "<b/>"));
    assertThat(early.outcome()).isEqualTo(Accepted.Outcome.PARKED);
    assertThat(early.forwards()).isEmpty();
    Accepted gap = get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "<a/>"));
    assertThat(gap.forwards()).extracting(Forward::seq, Forward::payload)
        .containsExactly(org.assertj.core.groups.Tuple.tuple(1L, "<a/>"), org.assertj.core.groups.Tuple.tuple(2L, "<b/>"));
    // hold=1: 101 answered, 102 held
    assertThat(gap.answers()).containsExactly(new Answer(101, "p#1", EMPTY));
  }

  @Test
  void b23_releaseAnswersEmptyOnceThenNothing() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    assertThat(get(store().release(sid, 101, "p#1"))).isEqualTo(EMPTY);
    assertThat(get(store().release(sid, 101, "p#1"))).isNull();
    // the empty answer is buffered for a resend
    assertThat(get(store().accept(sid, 101, "p#2", RequestFlags.NONE, "")).immediate()).isEqualTo(EMPTY);
  }

  @Test
  void b23_releaseOfAParkedRequestAnswersItAndKeepsItsPayload() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "<b/>"));
    assertThat(get(store().release(sid, 102, "p#2"))).isEqualTo(EMPTY);
    Accepted gap = get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "<a/>"));
    assertThat(gap.forwards()).extracting(Forward::payload).containsExactly("<a/>", "<b/>");
    assertThat(gap.answers()).isEmpty(); // 101 held; 102 was already answered
  }

  @Test
  void b30_ackOnResponsesWhenItDiffersFromTheAnsweredRid() throws Exception {
    String sid = newSession(1, true);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    Accepted a = get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    assertThat(a.answers()).containsExactly(new Answer(101, "p#1", OPEN + " ack=\"102\"/>"));
    assertThat(get(store().deliver(sid, List.of(MSG))).answers())
        .containsExactly(new Answer(102, "p#2", OPEN + ">" + MSG + "</body>"));
  }

  @Test
  void b50_clientTerminateForwardsPayloadAndEndsTheSession() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    Accepted t = get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withTerminate(), "<presence type='unavailable'/>"));
    assertThat(t.forwards()).containsExactly(new Forward(1, "<presence type='unavailable'/>", false, true));
    // XEP-0124 §13: the oldest open request gets type='terminate', the others empty bodies
    assertThat(t.answers()).containsExactly(
        new Answer(101, "p#1", OPEN + " type=\"terminate\"/>"),
        new Answer(102, "p#2", EMPTY));
    Accepted after = get(store().accept(sid, 103, "p#3", RequestFlags.NONE, ""));
    assertThat(after.outcome()).isEqualTo(Accepted.Outcome.ENDED);
    assertThat(after.immediate()).isEqualTo(OPEN + " type=\"terminate\"/>");
    assertThat(get(store().existing(List.of(sid)))).isEmpty();
    assertThat(get(store().deliver(sid, List.of(MSG))).gone()).isTrue();
  }

  @Test
  void b54_serverEndCarriesWaitingStanzasAndTheErrorToTheOldestHeld() throws Exception {
    String sid = newSession(2, false);
    get(store().deliver(sid, List.of(MSG)));
    String open = BodyWriter.terminateOpen(TerminateCondition.REMOTE_STREAM_ERROR);
    String err = "<stream:error><conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>";
    // no request held: the tombstone carries everything
    SessionStore.Terminated t = get(store().terminate(sid, open, err));
    assertThat(t.answers()).isEmpty();
    assertThat(t.tombstone()).isEqualTo(open + ">" + MSG + err + "</body>");
    assertThat(get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "")).immediate()).isEqualTo(open + ">" + MSG + err + "</body>");
  }

  @Test
  void b54_serverEndAnswersEveryHeldRequest() throws Exception {
    String sid = newSession(2, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    String open = BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED);
    SessionStore.Terminated first = get(store().terminate(sid, open, ""));
    assertThat(first.ended()).isTrue();
    assertThat(first.answers()).containsExactly(new Answer(101, "p#1", open + "/>"), new Answer(102, "p#2", open + "/>"));
    assertThat(get(store().existing(List.of(sid)))).isEmpty();
    assertThat(get(store().states(List.of(sid, "no-such-sid")))).isEqualTo(new SessionStore.States(Set.of(), Set.of(sid)));
    // ending twice changes nothing; an unknown sid has no tombstone
    SessionStore.Terminated again = get(store().terminate(sid, BodyWriter.terminateOpen(TerminateCondition.ITEM_NOT_FOUND), ""));
    assertThat(again.answers()).isEmpty();
    assertThat(again.ended()).isFalse();
    assertThat(again.tombstone()).isEqualTo(open + "/>");
    assertThat(get(store().terminate("no-such-sid", open, ""))).isEqualTo(SessionStore.Terminated.UNKNOWN);
  }

  @Test
  void warmupDeletesOnlyWarmupSessionsAndLeavesNothingOfThem() throws Exception {
    String client = newSession(1, false);
    String ended = SessionStore.WARMUP_SID_PREFIX + UUID.randomUUID();
    String live = SessionStore.WARMUP_SID_PREFIX + UUID.randomUUID();
    for (String sid : List.of(ended, live)) {
      get(store().create(new SessionRecord(sid, params(1, 30, 60, false), "pod-a", 100)));
      get(store().deliver(sid, List.of(MSG)));
    }
    get(store().terminate(ended, BodyWriter.terminateOpen(null), ""));
    // an id without the prefix fails the whole call: nothing is deleted
    assertThatThrownBy(() -> get(store().deleteWarmup(List.of(ended, client)))).hasMessageContaining("not a warm-up session");
    assertThat(get(store().states(List.of(ended, live, client)))).isEqualTo(new SessionStore.States(Set.of(live, client), Set.of(ended)));
    get(store().deleteWarmup(List.of(ended, live)));
    // no tombstone, no record, no queued stanza: as if they never were; the client's session untouched
    assertThat(get(store().states(List.of(ended, live, client)))).isEqualTo(new SessionStore.States(Set.of(client), Set.of()));
    assertThat(get(store().leftovers(live))).isEmpty();
    assertThat(get(store().accept(client, 101, "pod-a#1", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
  }

  @Test
  void x03_outboundQueueBoundedWithoutLoss() throws Exception {
    String sid = newSession(1, false);
    List<String> many = java.util.Collections.nCopies(maxOut(), MSG);
    assertThat(get(store().deliver(sid, many)).status()).isEqualTo(SessionStore.Delivery.Status.OK);
    assertThat(get(store().deliver(sid, List.of(MSG2))).full()).isTrue();
    Accepted a = get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    assertThat(a.answers().get(0).body()).isEqualTo(OPEN + ">" + MSG.repeat(maxOut()) + "</body>");
    assertThat(get(store().deliver(sid, List.of(MSG2))).status()).isEqualTo(SessionStore.Delivery.Status.OK);
  }

  @Test
  void aSidIsNotTakenAgainWhileWhatItsExpiredSessionHadWaitsAndIsOnceTaken() throws Exception {
    String sid = newSession(params(1, 30, 1, false));
    get(store().deliver(sid, List.of(MSG)));
    advance(PAST_ONE_SECOND);
    assertThat(get(store().existing(List.of(sid)))).isEmpty();
    SessionRecord again = new SessionRecord(sid, params(1, 30, 60, false), "pod-a", 500);
    // the outbound stanza waits for the owner to bounce it: the sid is not free, nor would a new
    // session of it see the old session's stanza
    assertThatThrownBy(() -> get(store().create(again))).hasMessageContaining("sid collision");
    assertThat(get(store().leftovers(sid))).containsExactly(new SessionStore.Queued(null, MSG));
    get(store().create(again));
    assertThat(get(store().accept(sid, 501, "pod-a#1", RequestFlags.NONE, "")).answers()).isEmpty();
    assertThat(get(store().leftovers(sid))).isEmpty();
    assertThat(get(store().release(sid, 501, "pod-a#1"))).isEqualTo(EMPTY);
  }

  @Test
  void b40_lifetimesTellTheOwnerHowLongEachSessionLivesIfNothingHappens() throws Exception {
    // what the owner's expiry index reads instead of every session at every sweep
    String idle = newSession(params(1, 30, 60, false));
    String holding = newSession(params(1, 30, 60, false));
    get(store().accept(holding, 101, "p#1", RequestFlags.NONE, ""));
    String ended = newSession(params(1, 30, 60, false));
    get(store().terminate(ended, BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED), ""));
    SessionStore.Lifetimes l = get(store().lifetimes(List.of(idle, holding, ended, "no-such-sid")));
    assertThat(l.live().keySet()).containsExactlyInAnyOrder(idle, holding);
    assertThat(l.ended()).containsExactly(ended);
    // XEP-0124 §10: nothing held, the inactivity; a held request adds its wait (and the margin that
    // keeps its cached response, 10 s). Compared with each other: on the test's clock a key's real
    // time to live is a backstop an hour longer than the one the scripts note.
    assertThat(l.live().get(idle)).isGreaterThan(50_000L);
    assertThat(l.live().get(holding) - l.live().get(idle)).isBetween(35_000L, 45_000L);
  }

  @Test
  void b40_sessionExpiresAfterInactivityWithNothingHeld() throws Exception {
    String sid = newSession(params(1, 30, 1, false));
    assertThat(get(store().existing(List.of(sid)))).containsExactly(sid);
    advance(PAST_ONE_SECOND);
    assertThat(get(store().existing(List.of(sid)))).isEmpty();
    // expired, not ended: neither live nor a tombstone
    assertThat(get(store().states(List.of(sid)))).isEqualTo(new SessionStore.States(Set.of(), Set.of()));
    assertThatThrownBy(() -> get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "")))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.ITEM_NOT_FOUND));
  }

  @Test
  void b40_heldRequestStopsTheInactivityClock() throws Exception {
    String sid = newSession(params(1, 3, 1, false));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    // wait + inactivity bound the held session; it outlives its bare inactivity
    advance(1500);
    assertThat(get(store().existing(List.of(sid)))).containsExactly(sid);
  }

  @Test
  void b41_pauseAnswersEveryHeldRequestAndKeepsStanzasForTheReturn() throws Exception {
    String sid = newSession(2, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    Accepted paused = get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withPause(30), ""));
    assertThat(paused.answers()).containsExactly(new Answer(101, "p#1", EMPTY), new Answer(102, "p#2", EMPTY));
    // while paused, server stanzas wait
    assertThat(get(store().deliver(sid, List.of(MSG))).answers()).isEmpty();
    // the client is back: the next request ends the pause and gets what waited
    Accepted back = get(store().accept(sid, 103, "p#3", RequestFlags.NONE, ""));
    assertThat(back.answers()).containsExactly(new Answer(103, "p#3", OPEN + ">" + MSG + "</body>"));
  }

  @Test
  void b41_pauseStretchesTheInactivityUntilTheNextRequest() throws Exception {
    String sid = newSession(params(1, 3, 1, false));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE.withPause(4), ""));
    // inactivity is 1 s, the pause 4 s: the session outlives its inactivity
    advance(1500);
    assertThat(get(store().existing(List.of(sid)))).containsExactly(sid);
    // the next request ends the pause; once answered, the 1 s inactivity applies again
    get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    assertThat(get(store().release(sid, 102, "p#2"))).isEqualTo(EMPTY);
    advance(PAST_ONE_SECOND);
    assertThat(get(store().existing(List.of(sid)))).isEmpty();
  }

  static String sha1(String s) throws Exception {
    return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-1")
        .digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
  }

  private String keyedSession(String newKey) throws Exception {
    String sid = UUID.randomUUID().toString();
    get(store().create(new SessionRecord(sid, params(2, 30, 60, false), "pod-a", 100, newKey)));
    return sid;
  }

  @Test
  void b70_eachKeyMustHashToThePreviousOne() throws Exception {
    // the client's chain: a, b = sha1(a), c = sha1(b), d = sha1(c); newkey d, then keys c, b, a
    String a = "seed0123";
    String b = sha1(a);
    String c = sha1(b);
    String sid = keyedSession(sha1(c));
    assertThat(get(store().accept(sid, 101, "p#1", RequestFlags.NONE.withKey(c), "<x/>")).forwards()).containsExactly(new Forward(1, "<x/>", false, false));
    // a resend is answered from the buffer (or takes over the held copy) whatever key it carries
    assertThat(get(store().accept(sid, 101, "p#9", RequestFlags.NONE.withKey(c), "<x/>")).outcome()).isIn(Accepted.Outcome.TAKEOVER, Accepted.Outcome.RESENT);
    // an early rid waits with its key; it is checked when its turn comes
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE.withKey(a), "<z/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    Accepted both = get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withKey(b), "<y/>"));
    assertThat(both.outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    assertThat(both.forwards()).extracting(Forward::payload).containsExactly("<y/>", "<z/>");
  }

  @Test
  void b70_wrongOrMissingKeyIsItemNotFoundAndNothingIsProcessed() throws Exception {
    String b = sha1("seed");
    String sid = keyedSession(sha1(b));
    assertThatThrownBy(() -> get(store().accept(sid, 101, "p#1", RequestFlags.NONE.withKey(sha1("guess")), "<x/>")))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.ITEM_NOT_FOUND));
    assertThatThrownBy(() -> get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "<x/>")))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.ITEM_NOT_FOUND));
    // the right key still works: the bad ones changed nothing
    assertThat(get(store().accept(sid, 101, "p#1", RequestFlags.NONE.withKey(b), "<x/>")).forwards()).hasSize(1);
  }

  @Test
  void b70_badKeyInAParkedSuccessorChangesNothingSoEndingTheSessionAnswersEveryParkedRequest() throws Exception {
    // the chain: e, d = sha1(e), c = sha1(d), b = sha1(c); newkey sha1(b), then keys b, c, d, e
    String d = sha1("seed-e");
    String c = sha1(d);
    String b = sha1(c);
    String sid = keyedSession(sha1(b));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE.withKey(b), ""));
    assertThat(get(store().release(sid, 101, "p#1"))).isEqualTo(EMPTY);
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE.withKey(d), "<three/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    assertThat(get(store().accept(sid, 104, "p#4", RequestFlags.NONE.withKey(sha1("guess")), "<four/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    // 102 fills the gap; 103 is fine, 104's key is wrong: refused, and nothing changed
    assertRefused(() -> get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withKey(c), "<two/>")), TerminateCondition.ITEM_NOT_FOUND);
    assertRefused(() -> get(store().accept(sid, 102, "p#5", RequestFlags.NONE.withKey(c), "<two/>")), TerminateCondition.ITEM_NOT_FOUND);
    SessionStore.Terminated t = get(store().refuse(sid, BodyWriter.terminateOpen(TerminateCondition.ITEM_NOT_FOUND), true));
    String end = BodyWriter.terminateOpen(TerminateCondition.ITEM_NOT_FOUND) + "/>";
    assertThat(t.answers()).containsExactly(new Answer(103, "p#3", end), new Answer(104, "p#4", end));
    assertThat(get(store().drain(sid))).isEmpty();
  }

  @Test
  void b70_keyWithNewkeyStartsANewSequence() throws Exception {
    String b = sha1("seed");
    String sid = keyedSession(sha1(b));
    String next = sha1("second");
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE.withKey(b).withNewKey(sha1(next)), ""));
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withKey(next), "<z/>")).forwards()).extracting(Forward::payload).containsExactly("<z/>");
    // sessions without keys ignore none of this: no key, no check
    String plain = newSession(1, false);
    assertThat(get(store().accept(plain, 101, "p#1", RequestFlags.NONE, "<x/>")).forwards()).hasSize(1);
  }

  @Test
  void unknownSessionIsItemNotFound() {
    assertThatThrownBy(() -> get(store().accept("no-such-sid", 1, "p#1", RequestFlags.NONE, "")))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.ITEM_NOT_FOUND));
  }

  @Test
  void createRefusesAnExistingSid() throws Exception {
    String sid = newSession(1, false);
    assertThatThrownBy(() -> get(store().create(new SessionRecord(sid, params(1, 30, 60, false), "p", 1))))
        .isInstanceOf(IllegalStateException.class);
    assertThat(get(store().existing(Set.of(sid, "other")))).containsExactly(sid);
  }

  // ---- overactivity and polling (XEP-0124 §11, §12)

  static void assertRefused(ThrowingCall call, TerminateCondition condition) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(condition));
  }

  interface ThrowingCall {
    void run() throws Exception;
  }

  @Test
  void b42_moreNewRequestsOutstandingThanRequestsIsPolicyViolation() throws Exception {
    String sid = newSession(1, false); // requests = 2
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "<b/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    // 101 held, 103 parked, and now 102: three outstanding, none answered
    assertRefused(() -> get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "<a/>")), TerminateCondition.POLICY_VIOLATION);
  }

  @Test
  void b42_pauseOrTerminateMayBeOneBeyondRequests() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "<b/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    Accepted ending = get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withTerminate(), "<a/>"));
    assertThat(ending.outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    assertThat(ending.forwards()).extracting(Forward::terminate).containsExactly(true);
    // the window also stretches by one for them: hi + requests + 1
    String other = newSession(1, false);
    assertThat(get(store().accept(other, 103, "q#3", RequestFlags.NONE.withPause(10), "")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    assertRefused(() -> get(store().accept(other, 104, "q#4", RequestFlags.NONE.withPause(10), "")), TerminateCondition.ITEM_NOT_FOUND);
  }

  @Test
  void b43_emptyRequestFillingRequestsWithinPollingIsPolicyViolation() throws Exception {
    String sid = newSession(params(1, 30, 60, false, 2));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    // with 101 held, an empty 102 within 2 s fills `requests` for nothing
    assertRefused(() -> get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "")), TerminateCondition.POLICY_VIOLATION);
    // the same request with a payload is ordinary traffic
    String busy = newSession(params(1, 30, 60, false, 2));
    get(store().accept(busy, 101, "p#1", RequestFlags.NONE, ""));
    assertThat(get(store().accept(busy, 102, "p#2", RequestFlags.NONE, "<a/>")).answers()).extracting(Answer::rid).containsExactly(101L);
    // an empty request that fills a gap below a request with payloads is not the newest one
    String racing = newSession(params(1, 30, 60, false, 2));
    assertThat(get(store().accept(racing, 102, "p#2", RequestFlags.NONE, "<a/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    assertThat(get(store().accept(racing, 101, "p#1", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
  }

  @Test
  void b44_pollingSessionPollingTooFastAfterAnEmptyAnswerIsPolicyViolation() throws Exception {
    String sid = newSession(params(0, 30, 120, false, 2)); // hold 0: every request answered at once
    assertThat(get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "")).answers()).extracting(Answer::body).containsExactly(EMPTY);
    assertRefused(() -> get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "")), TerminateCondition.POLICY_VIOLATION);
  }

  @Test
  void b44_pollingAgainAtOnceIsAllowedWhenTheLastAnswerCarriedPayloads() throws Exception {
    String sid = newSession(params(0, 30, 120, false, 2));
    get(store().deliver(sid, List.of(MSG)));
    assertThat(get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "")).answers()).extracting(Answer::body).containsExactly(OPEN + ">" + MSG + "</body>");
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "")).answers()).extracting(Answer::body).containsExactly(EMPTY);
    // a request carrying payloads is never too frequent
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "<a/>")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
  }

  // ---- HTTP Polling (XEP-0025): polls carry no rid; NEXT_RID makes a request the session's next

  @Test
  void p13_aPollIsTheSessionsNextRequestWhateverRidItNames() throws Exception {
    String sid = newSession(params(0, 0, 120, false, 0));
    Accepted first = get(store().accept(sid, SessionStore.NEXT_RID, "p#1", RequestFlags.NONE.withFragment(), "<a/>"));
    assertThat(first.outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    assertThat(first.forwards()).containsExactly(new Forward(1, "<a/>", false, false, false, null, true));
    assertThat(first.answers()).containsExactly(new Answer(101, "p#1", EMPTY));
    get(store().deliver(sid, List.of(MSG)));
    assertThat(get(store().accept(sid, SessionStore.NEXT_RID, "p#2", RequestFlags.NONE, "")).answers()).containsExactly(new Answer(102, "p#2", OPEN + ">" + MSG + "</body>"));
    // the rid it was given is the session's: a request naming it is a resend, the next one goes on
    assertThat(get(store().accept(sid, 102, "p#3", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertThat(get(store().accept(sid, 103, "p#4", RequestFlags.NONE, "")).answers()).containsExactly(new Answer(103, "p#4", EMPTY));
    assertThat(get(store().accept(sid, SessionStore.NEXT_RID, "p#5", RequestFlags.NONE.withTerminate(), "")).answers()).extracting(Answer::rid).containsExactly(104L);
  }

  @Test
  void p04_p13_aPollWithAKeyOutOfSequenceChangesNothing() throws Exception {
    String sid = UUID.randomUUID().toString();
    get(store().create(new SessionRecord(sid, params(0, 0, 120, false, 0), "pod-a", 100, sha1Hex("k1"))));
    assertRefused(() -> get(store().accept(sid, SessionStore.NEXT_RID, "p#1", RequestFlags.NONE.withFragment().withKey("k0").withNewKey(sha1Hex("k2")), "<a/>")), TerminateCondition.ITEM_NOT_FOUND);
    assertRefused(() -> get(store().accept(sid, SessionStore.NEXT_RID, "p#2", RequestFlags.NONE.withFragment(), "<a/>")), TerminateCondition.ITEM_NOT_FOUND);
    Accepted a = get(store().accept(sid, SessionStore.NEXT_RID, "p#3", RequestFlags.NONE.withFragment().withKey("k1").withNewKey(sha1Hex("k2")), "<b/>"));
    assertThat(a.answers()).containsExactly(new Answer(101, "p#3", EMPTY));
    assertThat(a.forwards()).containsExactly(new Forward(1, "<b/>", false, false, false, null, true));
    assertThat(get(store().accept(sid, SessionStore.NEXT_RID, "p#4", RequestFlags.NONE.withKey("k2").withNewKey(sha1Hex("k3")), "")).answers()).extracting(Answer::rid).containsExactly(102L);
  }

  @Test
  void p12_anEmptyPollIsEmptyForThePollingRule() throws Exception {
    String sid = newSession(params(0, 0, 120, false, 2));
    assertThat(get(store().accept(sid, SessionStore.NEXT_RID, "p#1", RequestFlags.NONE, "")).answers()).extracting(Answer::body).containsExactly(EMPTY);
    assertRefused(() -> get(store().accept(sid, SessionStore.NEXT_RID, "p#2", RequestFlags.NONE, "")), TerminateCondition.POLICY_VIOLATION);
    assertThat(get(store().accept(sid, SessionStore.NEXT_RID, "p#3", RequestFlags.NONE.withFragment(), "<a/>")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
  }

  private static String sha1Hex(String s) throws Exception {
    return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-1").digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
  }

  @Test
  void b45_noPollingAdvertisedMeansNoFrequencyLimit() throws Exception {
    String sid = newSession(params(0, 30, 120, false, 0));
    for (long rid = 101; rid < 111; rid++) {
      assertThat(get(store().accept(sid, rid, "p#" + rid, RequestFlags.NONE, "")).answers()).extracting(Answer::body).containsExactly(EMPTY);
    }
  }

  @Test
  void b52_refusalsOfALegacySessionSaySo() throws Exception {
    String ending = newSession(new SessionParams(30, 1, 2, 60, 0, null, "text/xml; charset=utf-8", false, "localhost", "en", null, null));
    assertThat(get(store().terminate(ending, BodyWriter.terminateOpen(TerminateCondition.BAD_REQUEST), "")).legacy()).isTrue();
    assertThat(get(store().terminate(newSession(1, false), BodyWriter.terminateOpen(TerminateCondition.BAD_REQUEST), "")).legacy()).isFalse();
    String sid = newSession(new SessionParams(30, 1, 2, 60, 0, null, "text/xml; charset=utf-8", false, "localhost", "en", null, null));
    assertThatThrownBy(() -> get(store().accept(sid, 109, "p#9", RequestFlags.NONE, "")))
        .isInstanceOfSatisfying(BoshException.class, e -> {
          assertThat(e.condition()).isEqualTo(TerminateCondition.ITEM_NOT_FOUND);
          assertThat(e.httpStatus()).isEqualTo(404);
        });
    String modern = newSession(1, false);
    assertThatThrownBy(() -> get(store().accept(modern, 109, "p#9", RequestFlags.NONE, "")))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.httpStatus()).isEqualTo(200));
  }

  // ---- acknowledgements (XEP-0124 §9.2)

  @Test
  void b31_lowClientAckIsAnsweredAtOnceWithReportAndTimeThenTheMissedResponseIsResent() throws Exception {
    String sid = newSession(1, true);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    String lost = get(store().deliver(sid, List.of(MSG))).answers().get(0).body();
    // the client never got 101's answer: its next request, a while later, still acknowledges only 100
    advance(SessionStore.REPORT_GRACE_MS + 100);
    Accepted next = get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withAck(100L), ""));
    assertThat(next.answers()).hasSize(1);
    String report = next.answers().get(0).body();
    assertThat(report).startsWith(OPEN + " report=\"101\" time=\"");
    long time = Long.parseLong(report.replaceAll(".*time=\"(\\d+)\".*", "$1"));
    assertThat(time).isBetween(SessionStore.REPORT_GRACE_MS + 100, 65535L);
    // the client asks for the missed response again and gets it byte for byte
    Accepted resent = get(store().accept(sid, 101, "p#9", RequestFlags.NONE, ""));
    assertThat(resent.outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertThat(resent.immediate()).isEqualTo(lost);
  }

  @Test
  void b31_responseStillInFlightIsNotReported() throws Exception {
    String sid = newSession(1, true);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    get(store().deliver(sid, List.of(MSG)));
    // written before 101's answer could arrive: an ordinary request, held
    Accepted next = get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withAck(100L), "<a/>"));
    assertThat(next.answers()).isEmpty();
  }

  @Test
  void b31_acknowledgedResponsesLeaveTheBufferUnacknowledgedOnesStay() throws Exception {
    String sid = newSession(1, true);
    for (long rid = 101; rid <= 104; rid++) {
      get(store().accept(sid, rid, "p#" + rid, RequestFlags.NONE, "<m" + rid + "/>"));
    }
    // 101..103 answered; the client acknowledges up to 101 only: 102 and 103 stay buffered
    get(store().accept(sid, 105, "p#5", RequestFlags.NONE.withAck(101L), "<m105/>"));
    assertThat(get(store().accept(sid, 102, "p#x", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertThat(get(store().accept(sid, 103, "p#y", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertRefused(() -> get(store().accept(sid, 101, "p#z", RequestFlags.NONE, "")), TerminateCondition.ITEM_NOT_FOUND);
  }

  // ---- multiple streams (XEP-0124 §16)

  static final String FIRST = "firstStream01";

  String streamSession(int hold) throws Exception {
    String sid = UUID.randomUUID().toString();
    get(store().create(new SessionRecord(sid, params(hold, 30, 60, false), "pod-a", 100, null, FIRST, false)));
    return sid;
  }

  static RequestFlags opening(String stream) {
    return RequestFlags.NONE.opening(stream);
  }

  static String streamRequest(String to) {
    return new StreamRequest(" from=\"" + to + "\"", to, "en", null, null).encode();
  }

  @Test
  void b80_openingAStreamIsAnsweredAtOnceWithItsNameAndHandedToTheOwner() throws Exception {
    String sid = streamSession(1);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    Accepted a = get(store().accept(sid, 102, "p#2", opening("second"), streamRequest("example.org")));
    assertThat(a.answers()).containsExactly(new Answer(102, "p#2", OPEN + " stream=\"second\" from=\"example.org\"/>"));
    assertThat(a.forwards()).containsExactly(new Forward(1, streamRequest("example.org"), false, false, true, "second"));
    assertThat(StreamRequest.decode(a.forwards().get(0).payload()).to()).isEqualTo("example.org");
    // 101 is still held: the stanzas of the new stream answer it, named
    assertThat(get(store().deliver(sid, "second", List.of(MSG))).answers())
        .containsExactly(new Answer(101, "p#1", OPEN + " stream=\"second\">" + MSG + "</body>"));
  }

  @Test
  void b80_withoutStreamNamesARequestToOpenOneIsAPlainPoll() throws Exception {
    String sid = newSession(1, false);
    Accepted a = get(store().accept(sid, 101, "p#1", opening("second"), streamRequest("example.org")));
    assertThat(a.forwards()).isEmpty();
    assertThat(a.answers()).isEmpty();
    // and a stream name on a request of such a session means nothing
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withStream("whatever"), "<a/>")).forwards())
        .containsExactly(new Forward(1, "<a/>", false, false));
  }

  @Test
  void b80_streamsBeyondTheLimitAreRefusedOneByOneAndTheSessionGoesOn() throws Exception {
    String sid = streamSession(1);
    long rid = 100;
    for (int i = 2; i <= SessionStore.DEFAULT_MAX_STREAMS; i++) {
      assertThat(get(store().accept(sid, ++rid, "p#" + rid, opening("s" + i), streamRequest("example.org"))).forwards()).hasSize(1);
    }
    Accepted refused = get(store().accept(sid, ++rid, "p#" + rid, opening("toomany"), streamRequest("example.org")));
    assertThat(refused.forwards()).isEmpty();
    assertThat(refused.answers()).extracting(Answer::body)
        .containsExactly(OPEN + " type=\"terminate\" condition=\"policy-violation\" stream=\"toomany\"/>");
    assertThat(get(store().accept(sid, ++rid, "p#" + rid, RequestFlags.NONE.withStream("s2"), "<a/>")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
  }

  @Test
  void b81_stanzasOfTwoStreamsNeverShareABodyAndEachBodyNamesItsStream() throws Exception {
    String sid = streamSession(2);
    get(store().accept(sid, 101, "p#1", opening("second"), streamRequest("example.org")));
    get(store().deliver(sid, List.of(MSG)));
    get(store().deliver(sid, "second", List.of(MSG2)));
    get(store().deliver(sid, List.of(MSG)));
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "")).answers())
        .containsExactly(new Answer(102, "p#2", OPEN + " stream=\"" + FIRST + "\">" + MSG + "</body>"));
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "")).answers())
        .containsExactly(new Answer(103, "p#3", OPEN + " stream=\"second\">" + MSG2 + "</body>"));
    assertThat(get(store().accept(sid, 104, "p#4", RequestFlags.NONE, "")).answers())
        .containsExactly(new Answer(104, "p#4", OPEN + " stream=\"" + FIRST + "\">" + MSG + "</body>"));
  }

  @Test
  void b81_aRequestNamingAStreamGoesToItAloneOneWithoutAStreamToAll() throws Exception {
    String sid = streamSession(2);
    get(store().accept(sid, 101, "p#1", opening("second"), streamRequest("example.org")));
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withStream("second"), "<a/>")).forwards())
        .containsExactly(new Forward(2, "<a/>", false, false, false, "second"));
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "<b/>")).forwards())
        .containsExactly(new Forward(3, "<b/>", false, false, false, null));
    assertThat(get(store().accept(sid, 104, "p#4", RequestFlags.NONE.withRestart().withStream("second"), "")).forwards())
        .containsExactly(new Forward(4, "", true, false, false, "second"));
  }

  @Test
  void b81_anUnknownStreamIsItemNotFound() throws Exception {
    String sid = streamSession(1);
    assertRefused(() -> get(store().accept(sid, 101, "p#1", RequestFlags.NONE.withStream("bogus"), "<a/>")), TerminateCondition.ITEM_NOT_FOUND);
  }

  @Test
  void b81_terminateNamingOneStreamClosesItAloneTheLastOneEndsTheSession() throws Exception {
    String sid = streamSession(1);
    get(store().accept(sid, 101, "p#1", opening("second"), streamRequest("example.org")));
    Accepted closing = get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withTerminate().withStream("second"), "<presence type='unavailable'/>"));
    assertThat(closing.forwards()).containsExactly(new Forward(2, "<presence type='unavailable'/>", false, true, false, "second"));
    assertThat(closing.answers()).containsExactly(new Answer(102, "p#2", OPEN + " type=\"terminate\" stream=\"second\"/>"));
    // payloads racing the end of a stream are not an error; the session goes on
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE.withStream("second"), "<a/>")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    // one stream left: its bodies need no name
    assertThat(get(store().deliver(sid, List.of(MSG))).answers()).extracting(Answer::body).containsExactly(OPEN + ">" + MSG + "</body>");
    Accepted last = get(store().accept(sid, 104, "p#4", RequestFlags.NONE.withTerminate().withStream(FIRST), ""));
    assertThat(last.forwards()).containsExactly(new Forward(4, "", false, true, false, FIRST));
    assertThat(last.answers()).extracting(Answer::body).containsExactly(OPEN + " type=\"terminate\"/>");
    assertThat(get(store().accept(sid, 105, "p#5", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.ENDED);
  }

  @Test
  void b81_theServerEndingOneOfTwoStreamsEndsOnlyItBehindWhatItSentBefore() throws Exception {
    String sid = streamSession(1);
    get(store().accept(sid, 101, "p#1", opening("second"), streamRequest("example.org")));
    get(store().deliver(sid, "second", List.of(MSG2)));
    String error = "<stream:error><conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>";
    SessionStore.Terminated t = get(store().endStream(sid, "second", BodyWriter.terminateOpen(TerminateCondition.REMOTE_STREAM_ERROR), error));
    assertThat(t.ended()).isFalse();
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "")).answers()).extracting(Answer::body).containsExactly(
        OPEN + " type=\"terminate\" condition=\"remote-stream-error\" stream=\"second\">" + MSG2 + error + "</body>");
    // ending it again changes nothing
    assertThat(get(store().endStream(sid, "second", BodyWriter.terminateOpen(null), "")).ended()).isFalse();
    get(store().deliver(sid, List.of(MSG)));
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "")).answers()).extracting(Answer::body).containsExactly(OPEN + ">" + MSG + "</body>");
    // the last stream's end is the session's end
    assertThat(get(store().endStream(sid, null, BodyWriter.terminateOpen(null), "")).ended()).isTrue();
    assertThat(get(store().accept(sid, 104, "p#4", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.ENDED);
  }

  @Test
  void b81_endOfTheFirstStreamOfASingleStreamSessionEndsTheSession() throws Exception {
    String sid = newSession(1, false);
    assertThat(get(store().endStream(sid, null, BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED), "")).ended()).isTrue();
  }

  // ---- what no body carried (XEP-0206 §7)

  @Test
  void b55_stanzasOfAnExpiredSessionAreLeftForTheOwnerToBounce() throws Exception {
    String sid = newSession(params(1, 30, 1, false));
    get(store().deliver(sid, List.of(MSG, MSG2)));
    assertThat(get(store().leftovers(sid))).isEmpty(); // alive: nothing to take
    advance(PAST_ONE_SECOND);
    assertThat(get(store().states(List.of(sid))).live()).isEmpty();
    assertThat(get(store().leftovers(sid))).containsExactly(new SessionStore.Queued(null, MSG), new SessionStore.Queued(null, MSG2));
    assertThat(get(store().leftovers(sid))).isEmpty();
  }

  @Test
  void b55_b81_anotherStreamsStanzasCannotGoInTheFinalBodyAndAreLeftToBounce() throws Exception {
    String sid = streamSession(1);
    get(store().accept(sid, 101, "p#1", opening("second"), streamRequest("example.org")));
    get(store().deliver(sid, "second", List.of(MSG2)));
    SessionStore.Terminated t = get(store().terminate(sid, BodyWriter.terminateOpen(TerminateCondition.SYSTEM_SHUTDOWN), ""));
    assertThat(t.tombstone()).doesNotContain("<body>y</body>");
    assertThat(get(store().leftovers(sid))).containsExactly(new SessionStore.Queued("second", MSG2));
  }

  @Test
  void b55_stanzasTheFinalBodyCarriedAreNotLeftOver() throws Exception {
    String sid = newSession(1, false);
    get(store().deliver(sid, List.of(MSG)));
    assertThat(get(store().terminate(sid, BodyWriter.terminateOpen(TerminateCondition.SYSTEM_SHUTDOWN), "")).tombstone()).contains(MSG);
    assertThat(get(store().leftovers(sid))).isEmpty();
  }

  // ---- secure sessions (XEP-0124 §19.1)

  @Test
  void b91_aPlainRequestOfASessionBegunEncryptedIsDroppedAndChangesNothing() throws Exception {
    String sid = UUID.randomUUID().toString();
    get(store().create(new SessionRecord(sid, params(1, 30, 60, false), "pod-a", 100, null, null, true)));
    assertThat(get(store().accept(sid, 101, "p#1", RequestFlags.NONE.withUnencrypted(true), "<a/>")).outcome()).isEqualTo(Accepted.Outcome.DROPPED);
    assertThat(get(store().accept(sid, 100, "p#2", RequestFlags.NONE.withUnencrypted(true), "")).outcome()).isEqualTo(Accepted.Outcome.DROPPED);
    assertThat(get(store().accept(sid, 101, "p#3", RequestFlags.NONE.withTerminate().withUnencrypted(true), "")).outcome()).isEqualTo(Accepted.Outcome.DROPPED);
    Accepted encrypted = get(store().accept(sid, 101, "p#4", RequestFlags.NONE, "<a/>"));
    assertThat(encrypted.outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    assertThat(encrypted.forwards()).containsExactly(new Forward(1, "<a/>", false, false));
    // nor does a plain request refused for a malformed attribute end it
    assertThat(get(store().refuse(sid, BodyWriter.terminateOpen(TerminateCondition.BAD_REQUEST), false)).dropped()).isTrue();
    assertThat(get(store().accept(sid, 102, "p#6", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    assertThat(get(store().refuse(sid, BodyWriter.terminateOpen(TerminateCondition.BAD_REQUEST), true)).ended()).isTrue();
    // a session begun in plain takes plain requests
    String open = newSession(1, false);
    assertThat(get(store().refuse(newSession(1, false), BodyWriter.terminateOpen(TerminateCondition.BAD_REQUEST), false)).ended()).isTrue();
    assertThat(get(store().accept(open, 101, "p#5", RequestFlags.NONE.withUnencrypted(true), "<a/>")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
  }

  // ---- requests whose client closed the connection (XEP-0124 §14.3)

  @Test
  void abandonedHoldGetsNoAnswerAndStanzasWaitForTheNextRequest() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    assertThat(get(store().abandon(sid, 101, "p#1"))).isTrue();
    assertThat(get(store().abandon(sid, 101, "p#1"))).isFalse();
    assertThat(get(store().deliver(sid, List.of(MSG))).answers()).isEmpty();
    Accepted next = get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    assertThat(next.answers()).containsExactly(new Answer(102, "p#2", OPEN + ">" + MSG + "</body>"));
    // a wrong holder or rid changes nothing
    get(store().accept(sid, 103, "p#3", RequestFlags.NONE, ""));
    assertThat(get(store().abandon(sid, 103, "p#9"))).isFalse();
    assertThat(get(store().abandon(sid, 104, "p#3"))).isFalse();
    assertThat(get(store().deliver(sid, List.of(MSG2))).answers()).containsExactly(new Answer(103, "p#3", OPEN + ">" + MSG2 + "</body>"));
  }

  @Test
  void abandonedHoldIsNotCountedByTheOveractivityRules() throws Exception {
    // B-43's case after a page reload: the dead request no longer fills `requests`
    String sid = newSession(params(1, 30, 60, false, 2));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    get(store().abandon(sid, 101, "p#1"));
    Accepted next = get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    assertThat(next.outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    assertThat(next.answers()).isEmpty();
  }

  @Test
  void resendOfAnAbandonedRidWaitsAgainAndTakesWhatWaits() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "<a/>"));
    get(store().abandon(sid, 101, "p#1"));
    get(store().deliver(sid, List.of(MSG)));
    Accepted again = get(store().accept(sid, 101, "p#9", RequestFlags.NONE, "<a/>"));
    assertThat(again.outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    assertThat(again.forwards()).isEmpty();
    assertThat(again.answers()).containsExactly(new Answer(101, "p#9", OPEN + ">" + MSG + "</body>"));
    // answered now, so cached: the next resend is an ordinary one
    assertThat(get(store().accept(sid, 101, "p#10", RequestFlags.NONE, "<a/>")).outcome()).isEqualTo(Accepted.Outcome.RESENT);
  }

  @Test
  void abandonedParkedRequestIsAnsweredEmptyAndItsPayloadStillGoesInOrder() throws Exception {
    String sid = newSession(1, false);
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "<two/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    assertThat(get(store().abandon(sid, 102, "p#2"))).isTrue();
    Accepted a = get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "<one/>"));
    assertThat(a.forwards()).containsExactly(new Forward(1, "<one/>", false, false), new Forward(2, "<two/>", false, false));
    assertThat(a.answers()).isEmpty();
    assertThat(get(store().accept(sid, 102, "p#3", RequestFlags.NONE, "<two/>")).immediate()).isEqualTo(EMPTY);
  }

  @Test
  void b55_stanzasOfResponsesTheClientNeverAcknowledgedAreLeftOversAtTheEnd() throws Exception {
    String sid = newSession(1, true);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    get(store().deliver(sid, List.of(MSG)));
    // 102 says only 100 arrived: 101 (MSG) may be lost
    get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withAck(100L), ""));
    get(store().deliver(sid, List.of(MSG2, MSG)));
    // 103 acknowledges 101: MSG2 and MSG of 102 are still unacknowledged
    get(store().accept(sid, 103, "p#3", RequestFlags.NONE.withAck(101L), ""));
    get(store().terminate(sid, BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED), ""));
    assertThat(get(store().leftovers(sid))).containsExactly(new SessionStore.Queued(null, MSG2), new SessionStore.Queued(null, MSG));
    // a request without ack acknowledges every earlier response (XEP-0124 §9.1)
    String acked = newSession(1, true);
    get(store().accept(acked, 101, "p#1", RequestFlags.NONE, ""));
    get(store().deliver(acked, List.of(MSG)));
    get(store().accept(acked, 102, "p#2", RequestFlags.NONE, ""));
    get(store().terminate(acked, BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED), ""));
    assertThat(get(store().leftovers(acked))).isEmpty();
    // without acks nothing tells what arrived: nothing is bounced twice
    String plain = newSession(1, false);
    get(store().accept(plain, 101, "p#1", RequestFlags.NONE, ""));
    get(store().deliver(plain, List.of(MSG)));
    get(store().accept(plain, 102, "p#2", RequestFlags.NONE.withTerminate(), ""));
    assertThat(get(store().leftovers(plain))).isEmpty();
  }

  @Test
  void answeredTellsWhatAHeldRequestIsOwedWhenItsAnswerMayHaveBeenMissed() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    assertThat(get(store().answered(sid, 101, "p#1"))).isNull();
    String body = get(store().deliver(sid, List.of(MSG))).answers().get(0).body();
    assertThat(get(store().answered(sid, 101, "p#1"))).isEqualTo(body);
    // taken over by a newer copy: the older one is owed a recoverable error
    get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    get(store().accept(sid, 102, "p#3", RequestFlags.NONE, ""));
    assertThat(get(store().answered(sid, 102, "p#2"))).isEqualTo(BodyWriter.recoverableError());
    assertThat(get(store().answered(sid, 102, "p#3"))).isNull();
    // a parked request waits; nothing is known of a rid never seen
    get(store().accept(sid, 104, "p#4", RequestFlags.NONE, "<a/>"));
    assertThat(get(store().answered(sid, 104, "p#4"))).isNull();
    assertThat(get(store().answered(sid, 109, "p#9"))).isNull();
    assertThat(get(store().answered("no-such-sid", 1, "p#1"))).isNull();
    // an ended session owes its final body
    String tombstone = get(store().terminate(sid, BodyWriter.terminateOpen(TerminateCondition.SYSTEM_SHUTDOWN), "")).tombstone();
    assertThat(get(store().answered(sid, 102, "p#3"))).isEqualTo(tombstone);
  }

  // ---- answers in rid order (XEP-0124 §14)

  @Test
  void b04_releaseBeforeTheWaitRanOutAnswersOnlyInRidOrder() throws Exception {
    String sid = newSession(2, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    assertThat(get(store().release(sid, 102, "p#2", true))).isEqualTo(SessionStore.NOT_ITS_TURN);
    assertThat(get(store().release(sid, 101, "p#1", true))).isEqualTo(EMPTY);
    assertThat(get(store().release(sid, 102, "p#2", true))).isEqualTo(EMPTY);
    // a parked request has a gap below it: never its turn
    assertThat(get(store().accept(sid, 104, "p#4", RequestFlags.NONE, "<d/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    assertThat(get(store().release(sid, 104, "p#4", true))).isEqualTo(SessionStore.NOT_ITS_TURN);
    Accepted gap = get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "<c/>"));
    assertThat(gap.forwards()).extracting(Forward::payload).containsExactly("<c/>", "<d/>");
    assertThat(get(store().release(sid, 104, "p#4", true))).isEqualTo(SessionStore.NOT_ITS_TURN);
    assertThat(get(store().release(sid, 103, "p#3", true))).isEqualTo(EMPTY);
    assertThat(get(store().release(sid, 104, "p#4", true))).isEqualTo(EMPTY);
  }

  @Test
  void b27_aParkedRequestAnsweredBeforeItsTurnFreesItsPlaceInTheWindow() throws Exception {
    String sid = newSession(1, false); // requests 2
    assertThat(get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "<b/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    assertThat(get(store().release(sid, 102, "p#2"))).isEqualTo(EMPTY);
    // the client has only 101 outstanding now: 103 is within its window
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "<c/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    Accepted gap = get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "<a/>"));
    assertThat(gap.forwards()).extracting(Forward::payload).containsExactly("<a/>", "<b/>", "<c/>");
    assertThat(gap.answers()).containsExactly(new Answer(101, "p#1", EMPTY));
    // beyond it still item-not-found
    assertRefused(() -> get(store().accept(sid, 106, "p#6", RequestFlags.NONE, "")), TerminateCondition.ITEM_NOT_FOUND);
  }

  // ---- byte bounds

  @Test
  void x03_aResponseCarriesAtMostItsByteBoundAndTheRestWaitsForTheNext() throws Exception {
    SessionStore small = store(50, 1 << 20, 2 * MSG.length());
    String sid = newSession(small, 1);
    get(small.accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    assertThat(get(small.deliver(sid, List.of(MSG, MSG2, MSG))).answers())
        .containsExactly(new Answer(101, "p#1", OPEN + ">" + MSG + MSG2 + "</body>"));
    assertThat(get(small.accept(sid, 102, "p#2", RequestFlags.NONE, "")).answers()).containsExactly(new Answer(102, "p#2", OPEN + ">" + MSG + "</body>"));
    // one stanza always goes, whatever the bound
    SessionStore tiny = store(50, 1 << 20, 10);
    String one = newSession(tiny, 1);
    get(tiny.deliver(one, List.of(MSG, MSG2)));
    assertThat(get(tiny.accept(one, 101, "p#1", RequestFlags.NONE, "")).answers()).containsExactly(new Answer(101, "p#1", OPEN + ">" + MSG + "</body>"));
    assertThat(get(tiny.accept(one, 102, "p#2", RequestFlags.NONE, "")).answers()).containsExactly(new Answer(102, "p#2", OPEN + ">" + MSG2 + "</body>"));
  }

  @Test
  void x03_waitingBytesAreBoundedWithoutLoss() throws Exception {
    SessionStore small = store(50, 3 * MSG.length(), 1 << 20);
    String sid = newSession(small, 1);
    assertThat(get(small.deliver(sid, List.of(MSG, MSG))).status()).isEqualTo(SessionStore.Delivery.Status.OK);
    assertThat(get(small.deliver(sid, List.of(MSG, MSG))).full()).isTrue();
    assertThat(get(small.deliver(sid, List.of(MSG2))).status()).isEqualTo(SessionStore.Delivery.Status.OK);
    assertThat(get(small.accept(sid, 101, "p#1", RequestFlags.NONE, "")).answers())
        .containsExactly(new Answer(101, "p#1", OPEN + ">" + MSG + MSG + MSG2 + "</body>"));
    // taken out, the bytes no longer count
    assertThat(get(small.deliver(sid, List.of(MSG, MSG))).status()).isEqualTo(SessionStore.Delivery.Status.OK);
    assertThat(get(small.deliver(sid, List.of(MSG, MSG))).full()).isTrue();
  }

  @Test
  void x03_aBatchLargerThanTheBoundGoesInWhenNothingWaits() throws Exception {
    SessionStore small = store(2, 1 << 20, 1 << 20);
    String sid = newSession(small, 1);
    assertThat(get(small.deliver(sid, List.of(MSG, MSG2, MSG))).status()).isEqualTo(SessionStore.Delivery.Status.OK);
    assertThat(get(small.deliver(sid, List.of(MSG2))).full()).isTrue();
    assertThat(get(small.accept(sid, 101, "p#1", RequestFlags.NONE, "")).answers())
        .containsExactly(new Answer(101, "p#1", OPEN + ">" + MSG + MSG2 + MSG + "</body>"));
    assertThat(get(small.deliver(sid, List.of(MSG2))).status()).isEqualTo(SessionStore.Delivery.Status.OK);
  }

  @Test
  void b21_forwardsReturnedInAnAcceptReplyAreKeptForAnOwnerThatLostTheReply() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "<one/>")); // the reply is lost
    get(store().accept(sid, 101, "p#2", RequestFlags.NONE, "<one/>")); // the client's resend carries no forward
    get(store().accept(sid, 102, "p#3", RequestFlags.NONE.withRestart(), ""));
    assertThat(get(store().forwardsFrom(sid, 1))).containsExactly(new Forward(1, "<one/>", false, false), new Forward(2, "", true, false));
    assertThat(get(store().forwardsFrom(sid, 2))).containsExactly(new Forward(2, "", true, false));
    // only the latest few are kept
    for (int i = 0; i < SessionStore.KEPT_FORWARDS; i++) {
      get(store().accept(sid, 103 + i, "p#" + (4 + i), RequestFlags.NONE, "<n" + i + "/>"));
    }
    assertThat(get(store().forwardsFrom(sid, 1))).extracting(Forward::seq)
        .containsExactly(3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L);
    assertThat(get(store().forwardsFrom("no-such-sid", 1))).isEmpty();
  }

  @Test
  void b21_keptForwardsTheOwnerAlreadyTookAreDroppedAtItsNextRequest() throws Exception {
    String sid = newSession(1, false);
    java.util.concurrent.atomic.AtomicLong taken = new java.util.concurrent.atomic.AtomicLong();
    store().forwardsTaken(s -> s.equals(sid) ? taken.get() : 0);
    try {
      get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "<one/>"));
      get(store().accept(sid, 102, "p#2", RequestFlags.NONE, "<two/>"));
      assertThat(get(store().forwardsFrom(sid, 1))).extracting(Forward::seq).containsExactly(1L, 2L);
      taken.set(1);
      get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "")); // an empty poll: nothing new is kept, the taken copy goes
      assertThat(get(store().forwardsFrom(sid, 1))).extracting(Forward::seq).containsExactly(2L);
      taken.set(2);
      get(store().accept(sid, 104, "p#4", RequestFlags.NONE, "<three/>"));
      assertThat(get(store().forwardsFrom(sid, 1))).containsExactly(new Forward(3, "<three/>", false, false));
      taken.set(3);
      get(store().accept(sid, 105, "p#5", RequestFlags.NONE, ""));
      assertThat(get(store().forwardsFrom(sid, 1))).as("an idle session keeps no copies").isEmpty();
    } finally {
      store().forwardsTaken(s -> 0);
    }
  }

  @Test
  void b54_payloadsTheOwnerTookAreNeverReportedUndelivered() throws Exception {
    String sid = newSession(1, false);
    get(store().accept(sid, 101, "pod-a#1", RequestFlags.NONE, "<message xmlns=\"jabber:client\"/>"));
    SessionStore.Terminated t = get(store().terminate(sid, BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED), ""));
    assertThat(t.answers()).extracting(Answer::body).noneMatch(b -> b.contains("undelivered"));
    assertThat(t.tombstone()).doesNotContain("undelivered");
  }

  // ---- held requests with a deadline (XEP-0124 §8: the store answers them empty by itself)

  /** wait = 2 s, no acks: a held request's deadline comes 1 s after its accept (the wait less the margin). */
  static SessionParams deadlined(int hold, int polling) {
    return params(hold, 2, 60, false, polling);
  }

  static final long TO_THE_DEADLINE = 2000 - SessionStore.EXPIRY_MARGIN_MS;

  @Test
  void b23_aHeldRequestHasADeadlineUnlessItsSessionUsesAcksOrWaitsBriefly() throws Exception {
    String sid = newSession(deadlined(1, 0));
    assertThat(get(store().accept(sid, 101, "p#1", RequestFlags.NONE, "")).deadline()).isTrue();
    // a resend of a held rid takes over, with a deadline of its own
    Accepted takeover = get(store().accept(sid, 101, "p#2", RequestFlags.NONE, ""));
    assertThat(takeover.outcome()).isEqualTo(Accepted.Outcome.TAKEOVER);
    assertThat(takeover.deadline()).isTrue();
    // a parked request keeps release, and so does one answered from the buffer
    assertThat(get(store().accept(sid, 103, "p#3", RequestFlags.NONE, "<c/>")).deadline()).isFalse();
    String other = newSession(deadlined(1, 0));
    get(store().accept(other, 101, "p#1", RequestFlags.NONE, ""));
    get(store().accept(other, 102, "p#2", RequestFlags.NONE, "")); // hold = 1: 101 is answered
    Accepted buffered = get(store().accept(other, 101, "p#4", RequestFlags.NONE, ""));
    assertThat(buffered.outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertThat(buffered.deadline()).isFalse();
    // acks: the empty answer names the highest rid received when it is given
    assertThat(get(store().accept(newSession(params(1, 2, 60, true)), 101, "p#1", RequestFlags.NONE, "")).deadline()).isFalse();
    // a wait below twice the margin
    assertThat(get(store().accept(newSession(params(1, 1, 60, false)), 101, "p#1", RequestFlags.NONE, "")).deadline()).isFalse();
  }

  @Test
  void b23_aRequestPastItsDeadlineIsAnsweredEmptyAsReleaseWouldHaveAnsweredItThen() throws Exception {
    String sid = newSession(deadlined(1, 0));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    advance(TO_THE_DEADLINE);
    // the stanza goes to no one: 101 was answered empty at its deadline, and nobody is told (its
    // holder answers it by itself)
    assertThat(get(store().deliver(sid, List.of(MSG))).answers()).isEmpty();
    // a resend of 101 gets that empty answer, buffered as release would have buffered it
    Accepted again = get(store().accept(sid, 101, "p#2", RequestFlags.NONE, ""));
    assertThat(again.outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertThat(again.immediate()).isEqualTo(EMPTY);
    assertThat(get(store().answered(sid, 101, "p#1"))).isEqualTo(EMPTY);
    assertThat(get(store().release(sid, 101, "p#1"))).isNull();
    // the next request takes what waits
    assertThat(get(store().accept(sid, 102, "p#3", RequestFlags.NONE, "")).answers())
        .containsExactly(new Answer(102, "p#3", OPEN + ">" + MSG + "</body>"));
  }

  @Test
  void b23_releaseOfARequestPastItsDeadlineGivesTheEmptyAnswerOfItsDeadline() throws Exception {
    String sid = newSession(deadlined(1, 0));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    advance(TO_THE_DEADLINE);
    // the holder could not answer it by itself (its channel dropped, say) and asks
    assertThat(get(store().release(sid, 101, "p#1"))).isEqualTo(EMPTY);
    assertThat(get(store().release(sid, 101, "p#1"))).isNull();
    assertThat(get(store().accept(sid, 101, "p#2", RequestFlags.NONE, "")).immediate()).isEqualTo(EMPTY);
  }

  @Test
  void answeredReadsARequestPastItsDeadlineAsAnsweredEmptyAndChangesNothing() throws Exception {
    String sid = newSession(deadlined(1, 0));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    assertThat(get(store().answered(sid, 101, "p#1"))).isNull();
    advance(TO_THE_DEADLINE);
    assertThat(get(store().answered(sid, 101, "p#1"))).isEqualTo(EMPTY);
    assertThat(get(store().answered(sid, 101, "p#1"))).isEqualTo(EMPTY);
    // answered reads only: the first operation that writes takes 101 out, release here
    assertThat(get(store().release(sid, 101, "p#1"))).isEqualTo(EMPTY);
  }

  @Test
  void b24_aRequestPastItsDeadlineIsNotAnsweredAgainWhenTheNextOneExceedsHold() throws Exception {
    String sid = newSession(deadlined(1, 0));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    advance(TO_THE_DEADLINE);
    Accepted next = get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    assertThat(next.answers()).isEmpty();
    assertThat(next.deadline()).isTrue();
    assertThat(get(store().deliver(sid, List.of(MSG))).answers()).containsExactly(new Answer(102, "p#2", OPEN + ">" + MSG + "</body>"));
  }

  @Test
  void b43_aRequestPastItsDeadlineIsNoLongerOutstanding() throws Exception {
    // polling 10 s: an empty request that fills `requests` while another waits is refused (B-43)...
    String sid = newSession(deadlined(1, 10));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    advance(TO_THE_DEADLINE);
    // ...but 101 was answered at its deadline, so the client has nothing outstanding
    Accepted next = get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    assertThat(next.outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    assertThat(next.answers()).isEmpty();
  }

  @Test
  void b42_requestsPastTheirDeadlineDoNotCountAgainstRequests() throws Exception {
    // hold 2, requests 3: with 101 and 102 held and 104 parked, 105 would be one request too many
    String waiting = newSession(params(2, 2, 60, false));
    String answered = newSession(params(2, 2, 60, false));
    for (String sid : List.of(waiting, answered)) {
      get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
      get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    }
    assertThat(get(store().accept(waiting, 104, "p#4", RequestFlags.NONE, "<d/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    assertRefused(() -> get(store().accept(waiting, 105, "p#5", RequestFlags.NONE, "<e/>")), TerminateCondition.POLICY_VIOLATION);
    advance(TO_THE_DEADLINE);
    // past their deadlines 101 and 102 were answered: the client has only what it parked outstanding
    assertThat(get(store().accept(answered, 104, "p#4", RequestFlags.NONE, "<d/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    assertThat(get(store().accept(answered, 105, "p#5", RequestFlags.NONE, "<e/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
  }

  @Test
  void b41_aPauseAnswersOnlyTheRequestsStillWaiting() throws Exception {
    String sid = newSession(deadlined(2, 0));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    advance(TO_THE_DEADLINE);
    Accepted paused = get(store().accept(sid, 102, "p#2", RequestFlags.NONE.withPause(30), ""));
    assertThat(paused.answers()).containsExactly(new Answer(102, "p#2", EMPTY));
  }

  @Test
  void b54_aServerEndAnswersOnlyTheRequestsStillWaiting() throws Exception {
    String sid = newSession(deadlined(2, 0));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    advance(TO_THE_DEADLINE);
    get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    SessionStore.Terminated t = get(store().terminate(sid, BodyWriter.terminateOpen(TerminateCondition.SYSTEM_SHUTDOWN), ""));
    assertThat(t.answers()).extracting(Answer::rid).containsExactly(102L);
  }

  @Test
  void abandonOfARequestPastItsDeadlineChangesNothingAndItsResendGetsItsAnswer() throws Exception {
    String sid = newSession(deadlined(1, 0));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    advance(TO_THE_DEADLINE);
    // answered already: not an abandoned request whose resend waits again
    assertThat(get(store().abandon(sid, 101, "p#1"))).isFalse();
    Accepted again = get(store().accept(sid, 101, "p#2", RequestFlags.NONE, ""));
    assertThat(again.outcome()).isEqualTo(Accepted.Outcome.RESENT);
    assertThat(again.immediate()).isEqualTo(EMPTY);
  }

  @Test
  void aRefusedRequestStillFindsRequestsPastTheirDeadlineAnswered() throws Exception {
    String sid = newSession(deadlined(1, 0));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    advance(TO_THE_DEADLINE);
    // above the window: refused; 101's answer at its deadline stands, as if released then
    assertRefused(() -> get(store().accept(sid, 105, "p#5", RequestFlags.NONE, "")), TerminateCondition.ITEM_NOT_FOUND);
    assertThat(get(store().release(sid, 101, "p#1"))).isNull();
    assertThat(get(store().answered(sid, 101, "p#1"))).isEqualTo(EMPTY);
  }

  @Test
  void b04_aDrainingPodsEarlyReleaseBeforeTheDeadlineAnswersAsBefore() throws Exception {
    String sid = newSession(deadlined(2, 0));
    get(store().accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    get(store().accept(sid, 102, "p#2", RequestFlags.NONE, ""));
    assertThat(get(store().release(sid, 102, "p#2", true))).isEqualTo(SessionStore.NOT_ITS_TURN);
    assertThat(get(store().release(sid, 101, "p#1", true))).isEqualTo(EMPTY);
    get(store().deliver(sid, List.of(MSG)));
    assertThat(get(store().answered(sid, 102, "p#2"))).isEqualTo(OPEN + ">" + MSG + "</body>");
  }

  int maxOut() {
    return 50;
  }
}
