package io.xbosh.protocol;

/** Parsing of attribute values with the spec's types, failing with bad-request. */
public final class BoshValues {

  private BoshValues() {
  }

  /** XML Schema boolean: {@code true}/{@code 1}. */
  public static boolean isTrue(String v) {
    return "true".equals(v) || "1".equals(v);
  }

  /** A rid: decimal digits only, 1 … 2^53−1 (XEP-0124 §14.1). */
  public static long parseRid(String v) {
    // unlike wait/hold, a rid is never clamped: one past the range is a client error
    long rid = parseUnsigned("rid", v, Long.MAX_VALUE);
    if (rid < 1 || rid > BoshBody.MAX_RID) {
      throw BoshException.badRequest("rid out of range");
    }
    return rid;
  }

  /**
   * A non-negative decimal integer; values above {@code clampAt} are clamped (they only make sense
   * as "as much as you allow"), and absurd lengths are refused before parsing.
   */
  public static long parseUnsigned(String name, String v, long clampAt) {
    if (v == null || v.isEmpty()) {
      throw BoshException.badRequest("missing " + name);
    }
    if (v.length() > 32) {
      throw BoshException.badRequest(name + " too long");
    }
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (c < '0' || c > '9') {
        throw BoshException.badRequest(name + " is not a non-negative integer");
      }
    }
    if (v.length() > 18) {
      return clampAt;
    }
    return Math.min(Long.parseLong(v), clampAt);
  }

  /** Like {@link #parseUnsigned} but returns {@code dflt} when the attribute is absent. */
  public static long parseUnsigned(String name, String v, long dflt, long clampAt) {
    return v == null ? dflt : parseUnsigned(name, v, clampAt);
  }
}
