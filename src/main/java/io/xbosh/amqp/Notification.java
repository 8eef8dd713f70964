package io.xbosh.amqp;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.BasicProperties;
import io.xbosh.amqp.Xml.El;
import io.xbosh.amqp.Xml.XmlException;
import io.xbosh.protocol.Namespaces;
import io.xbosh.protocol.XmlEscape;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * How a broker message becomes a {@code <message/>} stanza and a client's {@code <message/>} a
 * broker message. Pure: no I/O.
 *
 * <p>From the broker: {@code from} is the {@value #FROM_HEADER} header, else the app id, else the
 * domain; {@code id} is the message id; {@code type} the {@value #TYPE_HEADER} header when it is an
 * XMPP message type, else {@code chat}. The body by content type: {@code text/plain} (or none) is
 * the text of a {@code <body/>}; {@code application/xml} (or {@code text/xml}) is one element,
 * well-formed, no DTD, at most the stanza bound: a {@code jabber:client} {@code <message/>} is the
 * stanza itself (its {@code from} and {@code to} set by xbosh), any other element goes into one as it
 * is. Other content types, bad XML and oversized bodies are refused ({@link XmlException}).
 */
final class Notification {

  static final String FROM_HEADER = "from";
  static final String TYPE_HEADER = "type";
  static final String XML = "application/xml";
  private static final Set<String> TYPES = Set.of("chat", "normal", "headline", "groupchat");

  private Notification() {
  }

  /**
   * @param to       the receiving client's full JID
   * @param domain   the service's domain, the sender when the message names none
   * @param maxChars the largest stanza
   */
  static String toStanza(BasicProperties props, byte[] body, String to, String domain, int maxChars) throws XmlException {
    if (body.length > maxChars * 4L) {
      throw new XmlException("body larger than the stanza bound");
    }
    String text = new String(body, StandardCharsets.UTF_8);
    String type = contentType(props);
    String from = header(props, FROM_HEADER);
    if (from == null || from.isBlank()) {
      from = props.getAppId() != null && !props.getAppId().isBlank() ? props.getAppId() : domain;
    }
    String msgType = header(props, TYPE_HEADER);
    if (msgType == null || !TYPES.contains(msgType)) {
      msgType = "chat";
    }
    StringBuilder sb = new StringBuilder(text.length() + 160);
    switch (type) {
      case "", "text/plain" -> {
        open(sb, from, to, props.getMessageId(), msgType, Map.of()).append("<body>");
        XmlEscape.text(sb, text).append("</body></message>");
      }
      case XML, "text/xml" -> {
        El el = Xml.element(text, maxChars);
        if (el.is("message", Namespaces.CLIENT)) {
          String id = el.attr("id") != null ? el.attr("id") : props.getMessageId();
          String t = el.attr("type") != null && TYPES.contains(el.attr("type")) ? el.attr("type") : msgType;
          open(sb, from, to, id, t, el.attrs());
          for (El child : el.children()) {
            sb.append(child.standalone());
          }
          sb.append("</message>");
        } else {
          open(sb, from, to, props.getMessageId(), msgType, Map.of()).append(el.standalone()).append("</message>");
        }
      }
      default -> throw new XmlException("content type " + type + " is neither text/plain nor application/xml");
    }
    if (sb.length() > maxChars) {
      throw new XmlException("stanza larger than " + maxChars + " characters");
    }
    return sb.toString();
  }

  private static StringBuilder open(StringBuilder sb, String from, String to, String id, String type, Map<String, String> more) {
    sb.append("<message xmlns=\"").append(Namespaces.CLIENT).append("\" from=\"");
    XmlEscape.attribute(sb, from).append("\" to=\"");
    XmlEscape.attribute(sb, to).append("\" type=\"").append(type).append('"');
    if (id != null) {
      sb.append(" id=\"");
      XmlEscape.attribute(sb, id).append('"');
    }
    for (Map.Entry<String, String> a : more.entrySet()) {
      if (!Set.of("from", "to", "id", "type").contains(a.getKey())) {
        sb.append(' ').append(a.getKey()).append("=\"");
        XmlEscape.attribute(sb, a.getValue()).append('"');
      }
    }
    return sb.append('>');
  }

  /** The content type without parameters, lower case; "" when absent. */
  static String contentType(BasicProperties props) {
    String ct = props.getContentType();
    if (ct == null) {
      return "";
    }
    int semi = ct.indexOf(';');
    return (semi < 0 ? ct : ct.substring(0, semi)).trim().toLowerCase(Locale.ROOT);
  }

  static String header(BasicProperties props, String name) {
    Map<String, Object> headers = props.getHeaders();
    Object v = headers == null ? null : headers.get(name);
    return v == null ? null : v.toString();
  }

  /**
   * The broker message for a client's {@code <message/>}: the stanza as it stands alone, the sender
   * in the {@value #FROM_HEADER} header (a {@code from} inside the body is not trusted), the stanza's
   * id as the message id (a fresh one when it has none), persistent.
   */
  static AMQP.BasicProperties fromClient(El message, String senderJid) {
    String id = message.attr("id");
    return new AMQP.BasicProperties.Builder()
        .contentType(XML)
        .contentEncoding("utf-8")
        .messageId(id != null && !id.isBlank() ? id : UUID.randomUUID().toString())
        .appId("xbosh")
        .deliveryMode(2)
        .headers(Map.of(FROM_HEADER, senderJid))
        .build();
  }
}
