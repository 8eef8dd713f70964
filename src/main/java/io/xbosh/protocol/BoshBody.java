package io.xbosh.protocol;

import java.util.List;
import java.util.Map;

/**
 * One parsed client {@code <body/>}: its attributes and its payloads, each payload a self-contained
 * serialised element ready for the c2s stream.
 *
 * <p>Attribute keys are the local name for attributes in no namespace and {@code {uri}local} for
 * namespaced ones, so that {@code xmpp:restart} is matched by namespace, not by prefix (XEP-0206 §5).
 */
public record BoshBody(Map<String, String> attributes, List<String> payloads) {

  public static final String XMPP_VERSION = "{" + Namespaces.XBOSH + "}version";
  public static final String XMPP_RESTART = "{" + Namespaces.XBOSH + "}restart";
  public static final String XML_LANG = "{" + Namespaces.XML + "}lang";

  /** XEP-0124 §14.1: rids lie in 1 … 2^53−1. */
  public static final long MAX_RID = 9007199254740991L;

  public BoshBody {
    attributes = Map.copyOf(attributes);
    payloads = List.copyOf(payloads);
  }

  public String attr(String key) {
    return attributes.get(key);
  }

  public String sid() {
    return attributes.get("sid");
  }

  /** The request id, validated by the parser. */
  public long rid() {
    return Long.parseLong(attributes.get("rid"));
  }

  public boolean isTerminate() {
    return "terminate".equals(attributes.get("type"));
  }

  /** XEP-0206 §5: {@code true} or {@code 1}. */
  public boolean isRestart() {
    return BoshValues.isTrue(attributes.get(XMPP_RESTART));
  }

  public boolean isEmpty() {
    return payloads.isEmpty();
  }
}
