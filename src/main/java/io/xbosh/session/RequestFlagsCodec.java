package io.xbosh.session;

/**
 * The compact form of {@link RequestFlags} in Redis (script arguments, parked requests, forwards in
 * the inbound list and in {@code w:<seq>}), the only code that writes or reads it on the Java side;
 * {@code parse_flags} in prelude.lua is the only code that reads it in the scripts, and
 * {@code flags_text} there writes the forwards' flags.
 *
 * <p>Form: the letters {@code r} restart, {@code t} terminate, {@code o} open a stream, {@code f}
 * script-syntax content, then {@code p<n>} a pause of n seconds (n &gt; 0), then the parts
 * {@code ;K=<key>}, {@code ;N=<newkey>}, {@code ;A=<ack>}, {@code ;S=<stream>} and {@code ;U}
 * (unencrypted), each only when present, in that order. A plain encrypted request is {@code ""}.
 * The form holds no {@code |}: parked requests are {@code holder|flags|payload}, forwards
 * {@code seq|flags|payload} (inbound list) and {@code flags|payload} ({@code w:<seq>}).
 */
final class RequestFlagsCodec {

  private RequestFlagsCodec() {
  }

  static String encode(RequestFlags f) {
    StringBuilder b = new StringBuilder();
    if (f.restart()) {
      b.append('r');
    }
    if (f.terminate()) {
      b.append('t');
    }
    if (f.open()) {
      b.append('o');
    }
    if (f.fragment()) {
      b.append('f');
    }
    if (f.pause() > 0) {
      b.append('p').append(f.pause());
    }
    part(b, "K", f.key());
    part(b, "N", f.newKey());
    part(b, "A", f.ack() == null ? null : f.ack().toString());
    part(b, "S", f.stream());
    if (f.unencrypted()) {
      b.append(";U");
    }
    return b.toString();
  }

  private static void part(StringBuilder b, String marker, String value) {
    if (value != null) {
      b.append(';').append(marker).append('=').append(value);
    }
  }

  static RequestFlags decode(String s) {
    int semi = s.indexOf(';');
    String base = semi < 0 ? s : s.substring(0, semi);
    boolean restart = false;
    boolean terminate = false;
    boolean open = false;
    boolean fragment = false;
    long pause = 0;
    for (int i = 0; i < base.length(); i++) {
      switch (base.charAt(i)) {
        case 'r' -> restart = true;
        case 't' -> terminate = true;
        case 'o' -> open = true;
        case 'f' -> fragment = true;
        case 'p' -> {
          int end = i + 1;
          while (end < base.length() && Character.isDigit(base.charAt(end))) {
            end++;
          }
          pause = Long.parseLong(base.substring(i + 1, end));
          i = end - 1;
        }
        default -> throw new IllegalArgumentException("not request flags: " + s);
      }
    }
    String key = null;
    String newKey = null;
    Long ack = null;
    String stream = null;
    boolean unencrypted = false;
    if (semi >= 0) {
      for (String p : s.substring(semi + 1).split(";", -1)) {
        if (p.equals("U")) {
          unencrypted = true;
          continue;
        }
        if (p.length() < 2 || p.charAt(1) != '=') {
          throw new IllegalArgumentException("not request flags: " + s);
        }
        String v = p.substring(2);
        switch (p.charAt(0)) {
          case 'K' -> key = v;
          case 'N' -> newKey = v;
          case 'A' -> ack = Long.parseLong(v);
          case 'S' -> stream = v;
          default -> throw new IllegalArgumentException("not request flags: " + s);
        }
      }
    }
    return new RequestFlags(restart, terminate, pause, open, fragment, key, newKey, ack, stream, unencrypted);
  }

  /** The flags of a forward as the scripts keep them (only what the owner reads). */
  static String encode(Forward f) {
    return encode(new RequestFlags(f.restart(), f.terminate(), 0, f.open(), f.fragment(), null, null, null, f.stream(), false));
  }

  /** A forward from its number, its flags in the store and its payload. */
  static Forward forward(long seq, String flags, String payload) {
    RequestFlags f = decode(flags);
    return new Forward(seq, payload, f.restart(), f.terminate(), f.open(), f.stream(), f.fragment());
  }

  /** A parked request's entry in the session hash ({@code a:<rid>}); holder {@code -} once it was answered. */
  static String parkedEntry(String holder, RequestFlags flags, String payload) {
    return holder + "|" + encode(flags) + "|" + payload;
  }

  /** A kept forward's entry in the session hash ({@code w:<seq>}). */
  static String keptEntry(Forward f) {
    return encode(f) + "|" + f.payload();
  }
}
