package io.xbosh.websocket;

import io.xbosh.protocol.Namespaces;
import io.xbosh.protocol.XmlEscape;

/** What xbosh writes on a WebSocket (RFC 7395): the framing elements and stream errors, each a whole message. */
final class Framing {

  /** RFC 7395 §3.3.2: the namespace of {@code <open/>} and {@code <close/>}. */
  static final String NS = "urn:ietf:params:xml:ns:xmpp-framing";
  /** RFC 7395 §3.1: the WebSocket subprotocol. */
  static final String SUBPROTOCOL = "xmpp";
  private static final String STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams";

  private Framing() {
  }

  /** RFC 7395 §3.4: the server's answer to the client's {@code <open/>}, standing for its stream header. */
  static String open(String from, String id, String lang) {
    StringBuilder sb = new StringBuilder(160).append("<open xmlns=\"").append(NS).append("\" version=\"1.0\"");
    attribute(sb, "from", from);
    attribute(sb, "id", id);
    if (lang != null) {
      sb.append(" xml:lang=\"");
      XmlEscape.attribute(sb, lang).append('"');
    }
    return sb.append("/>").toString();
  }

  /** RFC 7395 §3.6: the stream's end. */
  static String close() {
    return "<close xmlns=\"" + NS + "\"/>";
  }

  /** RFC 7395 §3.6.1: the stream's end, asking the client to reconnect to another endpoint. */
  static String close(String seeOtherUri) {
    StringBuilder sb = new StringBuilder(128).append("<close xmlns=\"").append(NS).append('"');
    attribute(sb, "see-other-uri", seeOtherUri);
    return sb.append("/>").toString();
  }

  /** RFC 6120 §4.9: a stream error, qualified so that the message stands alone (RFC 7395 §3.3.3). */
  static String streamError(StreamError condition) {
    return "<stream:error xmlns:stream=\"" + Namespaces.STREAMS + "\"><" + condition.wire() + " xmlns=\"" + STREAM_ERRORS
        + "\"/></stream:error>";
  }

  private static void attribute(StringBuilder sb, String name, String value) {
    if (value != null) {
      sb.append(' ').append(name).append("=\"");
      XmlEscape.attribute(sb, value).append('"');
    }
  }
}
