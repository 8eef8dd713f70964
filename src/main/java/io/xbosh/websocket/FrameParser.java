package io.xbosh.websocket;

import io.xbosh.protocol.BodyParser;
import io.xbosh.protocol.ElementWriter;
import io.xbosh.protocol.Namespaces;
import io.xbosh.websocket.ClientFrame.FrameException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import javax.xml.XMLConstants;
import javax.xml.stream.XMLInputFactory;
import javax.xml.stream.XMLStreamConstants;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamReader;

/**
 * Parses one WebSocket text message from a client into a {@link ClientFrame} with the same safe
 * parser settings as BOSH bodies ({@link BodyParser#secureFactory}): exactly one whole element
 * (RFC 7395 §3.3.3), no DTD, comment, processing instruction or entity reference beyond the
 * predefined five, bounded in size, depth and attributes. The element is re-serialised by an
 * {@link ElementWriter} for the c2s stream, so nothing the client writes can close or reopen that
 * stream: stream-level elements (a stream header, {@code <starttls/>}, compression) are refused.
 *
 * <p>Thread-safe: the factory is shared, readers are per call.
 */
final class FrameParser {

  /** The c2s stream a re-serialised element goes into declares these. */
  private static final Map<String, String> UPSTREAM_SCOPE = Map.of("", Namespaces.CLIENT, "stream", Namespaces.STREAMS);
  private static final String COMPRESS_NS = "http://jabber.org/protocol/compress";
  private static final int MAX_DEPTH = 32;
  private static final int MAX_ATTRIBUTES = 64;
  /** RFC 7622 §3.2: a domain is at most 1023 bytes; a JID at most three parts of that. */
  private static final int MAX_ATTRIBUTE_CHARS = 3071;

  private final XMLInputFactory factory = BodyParser.secureFactory();
  private final int maxBytes;

  /** @param maxBytes largest message in UTF-8 bytes */
  FrameParser(int maxBytes) {
    this.maxBytes = maxBytes;
  }

  ClientFrame parse(String text) {
    if (text.length() > maxBytes || text.getBytes(StandardCharsets.UTF_8).length > maxBytes) {
      throw new FrameException(StreamError.POLICY_VIOLATION, "message larger than " + maxBytes + " bytes");
    }
    XMLStreamReader r = null;
    try {
      r = factory.createXMLStreamReader(new StringReader(text));
      return parse(r);
    } catch (XMLStreamException e) {
      throw new FrameException(StreamError.NOT_WELL_FORMED, "malformed message: " + firstLine(e.getMessage()));
    } catch (ElementWriter.FragmentTooLargeException e) {
      throw new FrameException(StreamError.POLICY_VIOLATION, e.getMessage());
    } catch (FrameException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new FrameException(StreamError.NOT_WELL_FORMED, "malformed message: " + firstLine(e.getMessage()));
    } finally {
      if (r != null) {
        try {
          r.close();
        } catch (XMLStreamException ignored) {
          // nothing to release beyond the string
        }
      }
    }
  }

  private ClientFrame parse(XMLStreamReader r) throws XMLStreamException {
    // unqualified elements (no xmlns at all) are taken as jabber:client, as in a BOSH body
    ElementWriter writer = new ElementWriter(UPSTREAM_SCOPE, "", Namespaces.CLIENT, maxBytes * 2);
    ClientFrame frame = null;
    int framingDepth = 0;
    while (r.hasNext()) {
      int event = r.next();
      switch (event) {
        case XMLStreamConstants.START_ELEMENT -> {
          if (r.getAttributeCount() > MAX_ATTRIBUTES) {
            throw new FrameException(StreamError.POLICY_VIOLATION, "too many attributes");
          }
          if (framingDepth > 0) {
            throw new FrameException(StreamError.NOT_WELL_FORMED, "<open/> and <close/> have no children");
          }
          if (!writer.inElement()) {
            if (frame != null) {
              // RFC 7395 §3.3.3: one element per message
              throw new FrameException(StreamError.NOT_WELL_FORMED, "more than one element in a message");
            }
            ClientFrame framing = framing(r);
            if (framing != null) {
              frame = framing;
              framingDepth = 1;
              continue;
            }
          } else if (writer.depth() + 1 >= MAX_DEPTH) {
            throw new FrameException(StreamError.POLICY_VIOLATION, "element nested too deeply");
          }
          writer.start(r);
        }
        case XMLStreamConstants.END_ELEMENT -> {
          if (framingDepth > 0) {
            framingDepth = 0;
          } else {
            String xml = writer.end(r);
            if (xml != null) {
              frame = new ClientFrame.Element(xml);
            }
          }
        }
        case XMLStreamConstants.CHARACTERS, XMLStreamConstants.CDATA, XMLStreamConstants.SPACE -> {
          if (writer.inElement()) {
            writer.text(r);
          } else if (!r.isWhiteSpace()) {
            throw new FrameException(StreamError.NOT_WELL_FORMED, "character data outside the element");
          }
        }
        // RFC 6120 §11.1: restricted XML
        case XMLStreamConstants.COMMENT -> throw new FrameException(StreamError.RESTRICTED_XML, "comment");
        case XMLStreamConstants.PROCESSING_INSTRUCTION -> throw new FrameException(StreamError.RESTRICTED_XML, "processing instruction");
        case XMLStreamConstants.DTD -> throw new FrameException(StreamError.RESTRICTED_XML, "DTD");
        case XMLStreamConstants.ENTITY_REFERENCE -> throw new FrameException(StreamError.RESTRICTED_XML, "entity reference");
        default -> {
          // START_DOCUMENT, END_DOCUMENT
        }
      }
    }
    if (frame == null) {
      throw new FrameException(StreamError.NOT_WELL_FORMED, "no element in the message");
    }
    return frame;
  }

  /** The framing elements, or null for an element that goes to the server; refuses stream-level ones. */
  private static ClientFrame framing(XMLStreamReader r) {
    String ns = r.getNamespaceURI() == null ? "" : r.getNamespaceURI();
    String name = r.getLocalName();
    if (Framing.NS.equals(ns)) {
      return switch (name) {
        case "open" -> new ClientFrame.Open(attribute(r, "", "to"), attribute(r, "", "from"),
            attribute(r, XMLConstants.XML_NS_URI, "lang"), attribute(r, "", "version"));
        case "close" -> new ClientFrame.Close();
        default -> throw new FrameException(StreamError.UNSUPPORTED_STANZA_TYPE, "unknown framing element " + name);
      };
    }
    if (Namespaces.STREAMS.equals(ns)) {
      // RFC 7395 §3.3.2: <open/> and <close/> replace the stream header and end; a client's own
      // stream header (or features, or errors) never reaches the server's stream
      throw new FrameException(StreamError.UNSUPPORTED_STANZA_TYPE, "stream-level element <" + name + "/>");
    }
    if (Namespaces.TLS.equals(ns) || COMPRESS_NS.equals(ns)) {
      // TLS and compression toward the server are xbosh's, never offered to the client
      throw new FrameException(StreamError.UNSUPPORTED_STANZA_TYPE, "<" + name + "/> is not offered");
    }
    return null;
  }

  private static String attribute(XMLStreamReader r, String ns, String name) {
    for (int i = 0, n = r.getAttributeCount(); i < n; i++) {
      String aNs = r.getAttributeNamespace(i) == null ? "" : r.getAttributeNamespace(i);
      if (aNs.equals(ns) && name.equals(r.getAttributeLocalName(i))) {
        String v = r.getAttributeValue(i);
        if (v.length() > MAX_ATTRIBUTE_CHARS) {
          throw new FrameException(StreamError.POLICY_VIOLATION, name + " longer than " + MAX_ATTRIBUTE_CHARS + " characters");
        }
        return v;
      }
    }
    return null;
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
