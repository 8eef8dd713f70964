package io.xbosh.polling;

import io.xbosh.protocol.BodyParser;
import io.xbosh.protocol.Namespaces;
import io.xbosh.protocol.ScriptContent;
import java.io.StringReader;
import javax.xml.stream.XMLStreamConstants;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamReader;

/**
 * What one poll's XML means for the session: XEP-0025 carries the client's raw XML stream, where
 * BOSH has a request per stream event. A poll is a stream header (the first one opens the session,
 * a later one restarts the stream after SASL or TLS, RFC 6120 §6.4.6), or content (any piece of
 * the stream, elements may span polls), optionally ending with {@code </stream:stream>} (the
 * client logs out).
 *
 * <p>A header stands alone in its poll (after an optional XML declaration) and is whole; the close
 * tag ends its poll. Anything else (a header after content, content after a header, a header cut
 * in two) is refused: these clients wait for the server's features after a header anyway.
 *
 * @param header  the stream header, or null when the poll carries none
 * @param content the raw content, "" for none (whitespace only counts as none)
 * @param close   whether the poll ends with {@code </stream:stream>}
 */
public record ClientStream(Header header, String content, boolean close) {

  static final String OPEN_TAG = "<stream:stream";
  static final String CLOSE_TAG = "</stream:stream>";

  /**
   * The client's stream header.
   *
   * @param to      the domain the client asks for
   * @param lang    its {@code xml:lang}, or null
   * @param version its {@code version}, or null (a client from before XMPP 1.0)
   */
  public record Header(String to, String lang, String version) {
  }

  /** @throws PollException {@link PollError#BAD_REQUEST} for a poll that breaks the rules above */
  public static ClientStream of(String xml) {
    int at = skipSpace(xml, 0);
    if (xml.startsWith("<?xml", at)) {
      int end = xml.indexOf("?>", at);
      if (end < 0) {
        throw bad("XML declaration not closed");
      }
      at = skipSpace(xml, end + 2);
    }
    if (xml.startsWith(OPEN_TAG, at)) {
      int end = ScriptContent.tagEnd(xml, at);
      if (end < 0) {
        throw bad("stream header not whole");
      }
      if (!xml.substring(end + 1).isBlank()) {
        throw bad("content after the stream header in the same poll");
      }
      return new ClientStream(header(xml.substring(at, end + 1)), "", false);
    }
    String content = xml;
    boolean close = false;
    String trimmed = xml.stripTrailing();
    if (trimmed.endsWith(CLOSE_TAG)) {
      close = true;
      content = trimmed.substring(0, trimmed.length() - CLOSE_TAG.length());
    }
    if (content.contains(OPEN_TAG) || content.contains(CLOSE_TAG)) {
      throw bad("stream header or close tag inside content");
    }
    return new ClientStream(null, content.isBlank() ? "" : content, close);
  }

  /** Parses the start tag alone (closed here), with the body parser's hardened factory. */
  private static Header header(String startTag) {
    XMLStreamReader r = null;
    try {
      r = BodyParser.secureFactory().createXMLStreamReader(new StringReader(startTag + CLOSE_TAG));
      while (r.next() != XMLStreamConstants.START_ELEMENT) {
        // the XML declaration is not part of the tag; nothing else comes first
      }
      if (!"stream".equals(r.getLocalName()) || !Namespaces.STREAMS.equals(r.getNamespaceURI())) {
        throw bad("stream header not in " + Namespaces.STREAMS);
      }
      String to = r.getAttributeValue(null, "to");
      String lang = r.getAttributeValue("http://www.w3.org/XML/1998/namespace", "lang");
      String version = r.getAttributeValue(null, "version");
      return new Header(to == null || to.isBlank() ? null : to.trim(), lang, version);
    } catch (XMLStreamException e) {
      throw bad("malformed stream header");
    } finally {
      if (r != null) {
        try {
          r.close();
        } catch (XMLStreamException ignored) {
          // a reader over a string holds nothing
        }
      }
    }
  }

  private static int skipSpace(String s, int from) {
    int i = from;
    while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
      i++;
    }
    return i;
  }

  private static PollException bad(String message) {
    return new PollException(PollError.BAD_REQUEST, message);
  }
}
