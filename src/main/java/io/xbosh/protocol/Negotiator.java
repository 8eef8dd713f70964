package io.xbosh.protocol;

import java.util.regex.Pattern;

/**
 * Turns a session creation request into {@link SessionParams} under the operator's limits
 * (XEP-0124 §7.1, §7.2; XEP-0206 §3).
 */
public final class Negotiator {

  /** The highest protocol version xbosh speaks. */
  public static final String VERSION = "1.11";
  public static final String DEFAULT_CONTENT = "text/xml; charset=utf-8";

  private static final Pattern VER = Pattern.compile("(\\d{1,9})\\.(\\d{1,9})");
  // a media type with optional parameters: no CR/LF, no quotes games, bounded
  private static final Pattern CONTENT = Pattern.compile("[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\\s*;\\s*[A-Za-z0-9!#$&^_.+-]+=[A-Za-z0-9!#$&^_.+-]+)*");
  private static final Pattern DOMAIN = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?");
  private static final Pattern LANG = Pattern.compile("[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8}){0,4}");

  /**
   * @param maxWait           upper bound on {@code wait}, seconds
   * @param maxHold           upper bound on {@code hold}
   * @param inactivity        inactivity for long-polling sessions, seconds
   * @param pollingInactivity inactivity for polling sessions (hold or wait 0), seconds (XEP-0124 §12)
   * @param polling           shortest polling interval, seconds
   */
  public record Limits(int maxWait, int maxHold, int inactivity, int pollingInactivity, int polling) {
  }

  private final Limits limits;

  public Negotiator(Limits limits) {
    this.limits = limits;
  }

  /** Whether {@code to} is a well-formed domain, as a session's {@code to} must be (also XMPP over WebSocket's). */
  public static boolean isDomain(String to) {
    return DOMAIN.matcher(to).matches();
  }

  /** The stream's {@code xml:lang}: the client's when well-formed, else {@code en}. */
  public static String lang(String lang) {
    return lang == null || !LANG.matcher(lang).matches() ? "en" : lang;
  }

  public SessionParams negotiate(BoshBody body) {
    String to = body.attr("to");
    if (to == null || to.isEmpty()) {
      throw new BoshException(TerminateCondition.IMPROPER_ADDRESSING, "missing to");
    }
    if (!DOMAIN.matcher(to).matches()) {
      throw new BoshException(TerminateCondition.HOST_UNKNOWN, "malformed to");
    }
    int wait = (int) BoshValues.parseUnsigned("wait", body.attr("wait"), limits.maxWait(), limits.maxWait());
    int hold = (int) BoshValues.parseUnsigned("hold", body.attr("hold"), 1, limits.maxHold());
    // XEP-0124 §7.2: requests must exceed the requested hold; hold + 1 recommended
    int requests = hold + 1;
    boolean polling = hold == 0 || wait == 0;
    int inactivity = polling ? Math.max(limits.pollingInactivity(), limits.polling() + 1) : limits.inactivity();
    String ver = negotiateVersion(body.attr("ver"));
    String content = body.attr("content");
    if (content == null) {
      content = DEFAULT_CONTENT;
    } else if (content.length() > 128 || !CONTENT.matcher(content).matches()) {
      throw BoshException.badRequest("malformed content");
    }
    String lang = body.attr(BoshBody.XML_LANG);
    if (lang == null || !LANG.matcher(lang).matches()) {
      lang = "en";
    }
    String ack = body.attr("ack");
    String from = body.attr("from");
    if (from != null && from.length() > 3071) {
      throw BoshException.badRequest("from too long");
    }
    String route = body.attr("route");
    if (route != null && route.length() > 300) {
      throw BoshException.badRequest("route too long");
    }
    // interned: every session of a domain, language and content type keeps the same string (its
    // link and its held requests keep them for as long as it lives)
    return new SessionParams(wait, hold, requests, inactivity, limits.polling(), ver, content.intern(),
        "1".equals(ack), to == null ? null : to.intern(), lang.intern(), from, route);
  }

  /** Whether a creation request comes from a client that expects HTTP error codes (XEP-0124 §17.1). */
  public static boolean legacyClient(BoshBody body) {
    try {
      return SessionParams.isLegacy(negotiateVersion(body.attr("ver")));
    } catch (BoshException e) {
      return false;
    }
  }

  /** XEP-0124 §7.2: the lower of the client's and ours, comparing major and minor as integers. */
  static String negotiateVersion(String clientVer) {
    if (clientVer == null) {
      return null;
    }
    var m = VER.matcher(clientVer);
    if (!m.matches()) {
      throw BoshException.badRequest("malformed ver");
    }
    int major = Integer.parseInt(m.group(1));
    int minor = Integer.parseInt(m.group(2));
    if (major > 1 || (major == 1 && minor >= 11)) {
      return VERSION;
    }
    return major + "." + minor;
  }
}
