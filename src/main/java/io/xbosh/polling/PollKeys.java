package io.xbosh.polling;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;

/**
 * XEP-0025's key sequence mapped onto the store's XEP-0124 §15 key check, which accepts a request
 * when SHA-1 (hex) of its key equals the key kept from the request before.
 *
 * <p>XEP-0025 accepts key {@code k} after key {@code p} when {@code Base64(SHA1(k)) = p}, that is
 * when {@code SHA1(k)} equals the 20 bytes {@code p} encodes. So the store gets
 * {@link #storeKey(String) hex(SHA1(k))} as the request's key and
 * {@link #storeNext(String) hex(SHA1(hex(decode(p))))} as the next key to expect: the store's
 * check {@code sha1hex(storeKey(k)) = storeNext(p)} holds exactly when XEP-0025's does. Both are
 * hex, as the store's key parts must be, and the client's own keys never reach the store.
 */
public final class PollKeys {

  /** What the store keeps after a key that is no Base64 SHA-1 digest: no key hashes to it. */
  static final String DEAD_END = "0";

  private PollKeys() {
  }

  /** The key of a request, as the store checks it. */
  public static String storeKey(String key) {
    return HexFormat.of().formatHex(sha1(key.getBytes(StandardCharsets.UTF_8)));
  }

  /**
   * The key the store expects next after a request carrying {@code key} (or starting a sequence
   * with it). A key that is not the Base64 of a SHA-1 digest (K(0), the seed) ends the sequence:
   * XEP-0025 §4 step 6, "the client will not be able to continue the session".
   */
  public static String storeNext(String key) {
    byte[] digest;
    try {
      digest = Base64.getDecoder().decode(key);
    } catch (IllegalArgumentException e) {
      return DEAD_END;
    }
    if (digest.length != 20) {
      return DEAD_END;
    }
    return storeKey(HexFormat.of().formatHex(digest));
  }

  /** K(n) from K(n-1): {@code Base64(SHA1(key))} (XEP-0025 §3, "Key Algorithm"). */
  public static String next(String key) {
    return Base64.getEncoder().encodeToString(sha1(key.getBytes(StandardCharsets.UTF_8)));
  }

  private static byte[] sha1(byte[] bytes) {
    try {
      return MessageDigest.getInstance("SHA-1").digest(bytes);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
