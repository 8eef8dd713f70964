package io.xbosh.upstream;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * XEP-0206 §7: what the server gets back for a stanza whose client has gone, so that nothing is
 * silently lost: a message bounces with {@code recipient-unavailable} (the server may then store it
 * offline), an iq request with {@code service-unavailable}; presence, results and errors are dropped.
 */
final class Bounce {

  /** A top-level stanza start tag as {@link StreamReader} writes it (double-quoted attributes). */
  private static final Pattern START = Pattern.compile("^<(message|iq|presence)\\b([^>]*)>");
  private static final Pattern ATTR = Pattern.compile("\\s([a-z]+)=\"([^\"]*)\"");

  private Bounce() {
  }

  /** @return the error stanza to send back, or null when the stanza is dropped */
  static String of(String stanza) {
    Matcher m = START.matcher(stanza);
    if (!m.find()) {
      return null;
    }
    String kind = m.group(1);
    String from = null;
    String to = null;
    String id = null;
    String type = null;
    Matcher a = ATTR.matcher(m.group(2));
    while (a.find()) {
      switch (a.group(1)) {
        case "from" -> from = a.group(2);
        case "to" -> to = a.group(2);
        case "id" -> id = a.group(2);
        case "type" -> type = a.group(2);
        default -> {
          // not needed for the error
        }
      }
    }
    String condition;
    if (kind.equals("message") && !"error".equals(type)) {
      condition = "recipient-unavailable";
    } else if (kind.equals("iq") && ("get".equals(type) || "set".equals(type))) {
      condition = "service-unavailable";
    } else {
      return null;
    }
    if (from == null) {
      return null; // nobody to tell
    }
    // the values are still escaped as they were read: copied as they are
    StringBuilder sb = new StringBuilder(192).append('<').append(kind).append(" xmlns=\"jabber:client\" type=\"error\" to=\"")
        .append(from).append('"');
    if (to != null) {
      sb.append(" from=\"").append(to).append('"');
    }
    if (id != null) {
      sb.append(" id=\"").append(id).append('"');
    }
    return sb.append("><error type=\"").append(kind.equals("message") ? "wait" : "cancel").append("\"><").append(condition)
        .append(" xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></error></").append(kind).append('>').toString();
  }
}
