package io.xbosh.protocol;

import java.util.List;
import java.util.Map;

/**
 * Renders the {@code <body/>} wrappers xbosh sends. All attribute values are escaped; payloads are
 * fragments that already went through {@link ElementWriter}.
 *
 * <p>The ordinary response format is a contract: the Redis store renders the same bytes in Lua
 * ({@code accept.lua}, {@code deliver.lua}), and the store contract tests compare both.
 */
public final class BodyWriter {

  /** Every wrapper declares the streams prefix so that {@code stream:features}/{@code stream:error} need no declaration (XEP-0206 §2). */
  public static final String OPEN = "<body xmlns=\"" + Namespaces.HTTPBIND + "\" xmlns:stream=\"" + Namespaces.STREAMS + "\"";
  public static final String CLOSE = "</body>";

  private BodyWriter() {
  }

  /** An ordinary response: the payloads in order; {@code ack} null when it equals the answered rid (XEP-0124 §9.1). */
  public static String response(Long ack, List<String> payloads) {
    StringBuilder sb = new StringBuilder(OPEN.length() + 32 + payloads.stream().mapToInt(String::length).sum());
    sb.append(OPEN);
    if (ack != null) {
      sb.append(" ack=\"").append(ack).append('"');
    }
    return close(sb, payloads);
  }

  /** XEP-0124 §17.2: a terminal binding condition, with children such as the server's stream error. */
  public static String terminate(TerminateCondition condition, List<String> children) {
    return close(new StringBuilder(128).append(terminateOpen(condition)), children);
  }

  /** The start tag of a terminate body without its closing {@code >}: the stores add children or a stream. */
  public static String terminateOpen(TerminateCondition condition) {
    String open = OPEN + " type=\"terminate\"";
    return condition == null ? open : open + " condition=\"" + condition.wireName() + "\"";
  }

  /** The answer to a client's own terminate request. */
  public static String terminated() {
    return terminate(null, List.of());
  }

  /** XEP-0124 §17.3: recoverable binding error; the client resends its unanswered requests. */
  public static String recoverableError() {
    return OPEN + " type=\"error\"/>";
  }

  /** A wrapper with arbitrary attributes (creation response); keys in insertion order. */
  public static String withAttributes(Map<String, String> attributes, List<String> payloads) {
    StringBuilder sb = new StringBuilder(512);
    sb.append(OPEN);
    attributes.forEach((k, v) -> {
      sb.append(' ').append(k).append("=\"");
      XmlEscape.attribute(sb, v).append('"');
    });
    return close(sb, payloads);
  }

  private static String close(StringBuilder sb, List<String> payloads) {
    if (payloads.isEmpty()) {
      return sb.append("/>").toString();
    }
    sb.append('>');
    payloads.forEach(sb::append);
    return sb.append(CLOSE).toString();
  }
}
