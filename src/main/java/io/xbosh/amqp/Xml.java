package io.xbosh.amqp;

import io.xbosh.protocol.BodyParser;
import io.xbosh.protocol.ElementWriter;
import io.xbosh.protocol.Namespaces;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.xml.stream.XMLStreamConstants;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamReader;

/**
 * The little XML the AMQP link reads: the client's stanzas (to answer them) and XML bodies of broker
 * messages (to pass them on). A parsed element keeps its tree and its serialisation standing alone
 * (every namespace declared on it), so it can go into a broker message or a BOSH body as it is.
 * Parsing uses the secure factory (no DTD, no external entities) and is bounded by its callers'
 * sizes.
 */
final class Xml {

  /** Elements deeper than this are refused (the body parser allows as much). */
  private static final int MAX_DEPTH = 32;

  /**
   * One element.
   *
   * @param attrs    attributes without a namespace, by local name
   * @param text     the element's own character data
   * @param standalone the element serialised with every namespace it needs declared on it (for the
   *                   elements returned and their direct children; null deeper down)
   */
  record El(String name, String ns, Map<String, String> attrs, List<El> children, String text, String standalone) {

    String attr(String n) {
      return attrs.get(n);
    }

    El child(String n, String namespace) {
      for (El c : children) {
        if (c.name.equals(n) && c.ns.equals(namespace)) {
          return c;
        }
      }
      return null;
    }

    boolean is(String n, String namespace) {
      return name.equals(n) && ns.equals(namespace);
    }
  }

  /** The input is not well-formed, too deep, too large, or not what was expected. */
  static final class XmlException extends Exception {
    XmlException(String message) {
      super(message, null, false, false);
    }
  }

  private Xml() {
  }

  /** The top-level elements of a client's payload (stanzas of the c2s default namespace {@code jabber:client}). */
  static List<El> stanzas(String payload, int maxChars) throws XmlException {
    String wrapped = "<w xmlns='" + Namespaces.CLIENT + "' xmlns:stream='" + Namespaces.STREAMS + "'>" + payload + "</w>";
    return parse(wrapped, 1, maxChars, Map.of());
  }

  /**
   * The one element of a broker message's XML body, serialised for a place whose default namespace
   * is {@code jabber:client} (an unqualified element gets {@code xmlns=""}).
   */
  static El element(String xml, int maxChars) throws XmlException {
    List<El> roots = parse(xml, 0, maxChars, Map.of("", Namespaces.CLIENT));
    if (roots.size() != 1) {
      throw new XmlException("not one element");
    }
    return roots.get(0);
  }

  /** @param level depth of the elements returned (0: the document element, 1: its children) */
  private static List<El> parse(String xml, int level, int maxChars, Map<String, String> scope) throws XmlException {
    if (xml.length() > maxChars + 256) {
      throw new XmlException("larger than " + maxChars + " characters");
    }
    List<El> out = new ArrayList<>();
    XMLStreamReader r = null;
    try {
      r = BodyParser.secureFactory().createXMLStreamReader(new StringReader(xml));
      ElementWriter writer = new ElementWriter(scope, null, null, maxChars);
      // the direct children of a returned element get a serialisation of their own too
      ElementWriter childWriter = new ElementWriter(scope, null, null, maxChars);
      ArrayList<Builder> open = new ArrayList<>();
      int depth = 0;
      while (r.hasNext()) {
        int ev = r.next();
        switch (ev) {
          case XMLStreamConstants.START_ELEMENT -> {
            if (++depth > MAX_DEPTH) {
              throw new XmlException("nested deeper than " + MAX_DEPTH);
            }
            if (depth > level) {
              writer.start(r);
              if (depth > level + 1) {
                childWriter.start(r);
              }
              Map<String, String> attrs = new LinkedHashMap<>();
              for (int i = 0; i < r.getAttributeCount(); i++) {
                String ans = r.getAttributeNamespace(i);
                if (ans == null || ans.isEmpty()) {
                  attrs.put(r.getAttributeLocalName(i), r.getAttributeValue(i));
                }
              }
              open.add(new Builder(r.getLocalName(), r.getNamespaceURI() == null ? "" : r.getNamespaceURI(), attrs));
            }
          }
          case XMLStreamConstants.CHARACTERS, XMLStreamConstants.CDATA, XMLStreamConstants.SPACE -> {
            if (depth > level) {
              writer.text(r);
              if (depth > level + 1) {
                childWriter.text(r);
              }
              open.get(open.size() - 1).text.append(r.getText());
            } else if (level > 0 && !r.isWhiteSpace()) {
              throw new XmlException("text between stanzas");
            }
          }
          case XMLStreamConstants.END_ELEMENT -> {
            if (depth > level) {
              String s = writer.end(r);
              String c = depth > level + 1 ? childWriter.end(r) : null;
              if (s == null) {
                s = c; // null deeper down: only returned elements and their children stand alone
              }
              Builder b = open.remove(open.size() - 1);
              El el = new El(b.name, b.ns, Map.copyOf(b.attrs), List.copyOf(b.children), b.text.toString(), s);
              if (open.isEmpty()) {
                out.add(el);
              } else {
                open.get(open.size() - 1).children.add(el);
              }
            }
            depth--;
          }
          case XMLStreamConstants.DTD, XMLStreamConstants.ENTITY_REFERENCE -> throw new XmlException("DTDs and entities are not accepted");
          default -> {
            // comments and processing instructions are dropped
          }
        }
      }
      return out;
    } catch (XMLStreamException | ElementWriter.FragmentTooLargeException e) {
      throw new XmlException(e.getMessage());
    } finally {
      if (r != null) {
        try {
          r.close();
        } catch (XMLStreamException ignored) {
          // nothing held
        }
      }
    }
  }

  private static final class Builder {
    final String name;
    final String ns;
    final Map<String, String> attrs;
    final List<El> children = new ArrayList<>();
    final StringBuilder text = new StringBuilder();

    Builder(String name, String ns, Map<String, String> attrs) {
      this.name = name;
      this.ns = ns;
      this.attrs = attrs;
    }
  }
}
