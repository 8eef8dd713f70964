package io.xbosh.polling;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** The XEP-0025 key sequence and its mapping onto the store's XEP-0124 §15 check. */
class PollKeysTest {

  /** XEP-0025 §4, example "key sequence". */
  private static final String[] FOO = {
      "foo",
      "C+7Hteo/D9vJXQ3UfzxbwnXaijM=",
      "6UU8CDmH3O4aHFmCqSORCn721+M=",
      "vFFYSOhGyaGUgLrldtMBX7x91Wc=",
      "ZaDxCilBVTHS9dJfbBo1NsC2b+8=",
      "moPFsvHytDGiJQOjp186AMXAeP0=",
      "VvxEk07IFy6hUmG/PPBlTLE2fiA="};

  /** What the store does (accept.lua key_ok): sha1hex(key) equals the key kept. */
  private static boolean storeAccepts(String kept, String requestKey) throws Exception {
    String hex = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(requestKey.getBytes(StandardCharsets.UTF_8)));
    return hex.equals(kept);
  }

  @Test
  void p04_nextIsTheXepsKeyAlgorithm() {
    for (int n = 1; n < FOO.length; n++) {
      assertThat(PollKeys.next(FOO[n - 1])).as("K(%d, foo)", n).isEqualTo(FOO[n]);
    }
  }

  @Test
  void p04_eachKeyDownTheSequenceIsAcceptedAfterTheOneBefore() throws Exception {
    // the first request sends K(6); then K(5), K(4) ... K(1)
    String kept = PollKeys.storeNext(FOO[6]);
    for (int n = 5; n >= 1; n--) {
      String requestKey = PollKeys.storeKey(FOO[n]);
      assertThat(storeAccepts(kept, requestKey)).as("K(%d) after K(%d)", n, n + 1).isTrue();
      kept = PollKeys.storeNext(FOO[n]);
    }
  }

  @Test
  void p04_aKeyOutOfSequenceIsRefused() throws Exception {
    String kept = PollKeys.storeNext(FOO[6]);
    assertThat(storeAccepts(kept, PollKeys.storeKey(FOO[4]))).isFalse(); // one skipped
    assertThat(storeAccepts(kept, PollKeys.storeKey(FOO[6]))).isFalse(); // replayed
    assertThat(storeAccepts(kept, PollKeys.storeKey("C+7Hteo/D9vJXQ3UfzxbwnXaijN="))).isFalse();
  }

  @Test
  void p05_rekeyingStartsANewSequence() throws Exception {
    // XEP-0025 §4 "Changing key": K(1) with a new K(m, seed')
    String[] bar = new String[4];
    bar[0] = "bar";
    for (int i = 1; i < bar.length; i++) {
      bar[i] = PollKeys.next(bar[i - 1]);
    }
    String kept = PollKeys.storeNext(FOO[2]);
    assertThat(storeAccepts(kept, PollKeys.storeKey(FOO[1]))).isTrue();
    kept = PollKeys.storeNext(bar[3]); // N= the new key
    assertThat(storeAccepts(kept, PollKeys.storeKey(FOO[0]))).isFalse(); // the old sequence is over
    assertThat(storeAccepts(kept, PollKeys.storeKey(bar[2]))).isTrue();
  }

  @Test
  void p05_theSeedSentWithoutANewKeyEndsTheSequence() throws Exception {
    // §4 step 6: "If K(0, seed) is sent without a new key, the client will not be able to continue"
    String kept = PollKeys.storeNext(FOO[0]);
    assertThat(kept).isEqualTo(PollKeys.DEAD_END);
    for (String k : FOO) {
      assertThat(storeAccepts(kept, PollKeys.storeKey(k))).isFalse();
    }
  }

  @Test
  void p04_whatTheStoreGetsIsHexAndNeverTheClientsKey() {
    assertThat(PollKeys.storeKey(FOO[5])).matches("[0-9a-f]{40}").doesNotContain(FOO[5]);
    assertThat(PollKeys.storeNext(FOO[6])).matches("[0-9a-f]{40}");
    assertThat(PollKeys.storeNext("not base64!")).isEqualTo(PollKeys.DEAD_END);
    assertThat(PollKeys.storeNext("Zm9v")).isEqualTo(PollKeys.DEAD_END); // base64, but not 20 bytes
  }
}
