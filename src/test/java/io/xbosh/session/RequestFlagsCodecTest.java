package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The compact form of a request's flags in Redis: every field survives the round trip, edge values
 * included, and the form is what the scripts' {@code parse_flags} reads (the Redis contract suite
 * and the differential test run the scripts on it).
 */
class RequestFlagsCodecTest {

  private static final String KEY = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";

  @Test
  void aPlainEncryptedRequestIsEmpty() {
    assertThat(RequestFlagsCodec.encode(RequestFlags.NONE)).isEmpty();
    assertThat(RequestFlagsCodec.decode("")).isEqualTo(RequestFlags.NONE);
  }

  @Test
  void everyFieldHasItsPlaceInTheForm() {
    RequestFlags all = new RequestFlags(true, true, 120, true, true, KEY, "B2", 9_007_199_254_740_991L, "s_-9", true);
    assertThat(RequestFlagsCodec.encode(all)).isEqualTo("rtofp120;K=" + KEY + ";N=B2;A=9007199254740991;S=s_-9;U");
    assertThat(RequestFlagsCodec.encode(RequestFlags.NONE.withPause(5))).isEqualTo("p5");
    assertThat(RequestFlagsCodec.encode(RequestFlags.NONE.withAck(0))).isEqualTo(";A=0");
    assertThat(RequestFlagsCodec.encode(RequestFlags.NONE.opening("x"))).isEqualTo("o;S=x");
    assertThat(RequestFlagsCodec.encode(RequestFlags.NONE.withUnencrypted(true))).isEqualTo(";U");
    assertThat(RequestFlagsCodec.encode(RequestFlags.NONE.withTerminate().withUnencrypted(true))).isEqualTo("t;U");
  }

  @Test
  void everyCombinationOfFieldsRoundTrips() {
    List<RequestFlags> seen = new ArrayList<>();
    for (int bits = 0; bits < 1 << 10; bits++) {
      RequestFlags f = new RequestFlags((bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0 ? Long.MAX_VALUE : 0, (bits & 8) != 0,
          (bits & 16) != 0, (bits & 32) != 0 ? "0" : null, (bits & 64) != 0 ? KEY.toUpperCase() : null,
          (bits & 128) != 0 ? (Long) 0L : null, (bits & 256) != 0 ? "-".repeat(64) : null, (bits & 512) != 0);
      String text = RequestFlagsCodec.encode(f);
      assertThat(text).doesNotContain("|");
      assertThat(RequestFlagsCodec.decode(text)).as(text).isEqualTo(f);
      seen.add(f);
    }
    assertThat(seen).doesNotHaveDuplicates();
  }

  @Test
  void aPauseOfOneSecondAndTheLargestAckRoundTrip() {
    RequestFlags f = RequestFlags.NONE.withPause(1).withAck(Long.MAX_VALUE).withKey("a".repeat(128));
    assertThat(RequestFlagsCodec.decode(RequestFlagsCodec.encode(f))).isEqualTo(f);
  }

  @Test
  void aForwardKeepsWhatTheOwnerReads() {
    for (Forward f : List.of(new Forward(1, "", true, false), new Forward(2, "<a/>", false, true, false, "s1"),
        new Forward(3, "attrs\nto\nen\n\n", false, false, true, "s2"), new Forward(4, "<b", false, false, false, null, true),
        new Forward(Long.MAX_VALUE, "", true, true, false, null, false))) {
      String entry = RequestFlagsCodec.keptEntry(f);
      int bar = entry.indexOf('|');
      assertThat(RequestFlagsCodec.forward(f.seq(), entry.substring(0, bar), entry.substring(bar + 1))).isEqualTo(f);
    }
    // the scripts keep a forward's pause; the owner does not read it
    assertThat(RequestFlagsCodec.forward(5, "rp30;S=s", "")).isEqualTo(new Forward(5, "", true, false, false, "s"));
    assertThat(RequestFlagsCodec.encode(new Forward(6, "", false, false, true, "n"))).isEqualTo("o;S=n");
  }

  @Test
  void aParkedRequestIsHolderFlagsPayload() {
    assertThat(RequestFlagsCodec.parkedEntry("pod-a#7", RequestFlags.NONE.withTerminate().withKey("k1"), "<a|b/>"))
        .isEqualTo("pod-a#7|t;K=k1|<a|b/>");
    assertThat(RequestFlagsCodec.parkedEntry("-", RequestFlags.NONE, "")).isEqualTo("-||");
  }

  @Test
  void valuesTheFormCannotCarryAreRefused() {
    assertThatThrownBy(() -> RequestFlags.NONE.withStream("a;b")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> RequestFlags.NONE.withStream("a|b")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> RequestFlags.NONE.withStream("")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> RequestFlags.NONE.withKey("k=1")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> RequestFlags.NONE.withNewKey("a".repeat(129))).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> RequestFlags.NONE.withPause(-1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> RequestFlags.NONE.withAck(-1)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void textThatIsNotTheFormIsRefused() {
    for (String bad : List.of("x", "p", ";Q=1", ";K", ";A=x", "r;;U")) {
      assertThatThrownBy(() -> RequestFlagsCodec.decode(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
    }
  }
}
