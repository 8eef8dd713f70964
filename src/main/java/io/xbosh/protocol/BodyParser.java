package io.xbosh.protocol;

import com.fasterxml.aalto.stax.InputFactoryImpl;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.xml.stream.XMLInputFactory;
import javax.xml.stream.XMLStreamConstants;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamReader;

/**
 * Parses one client request into a {@link BoshBody}, enforcing XEP-0124 §6: one {@code <body/>}
 * in the httpbind namespace, whole elements as children, no character data, no DTD, comments,
 * processing instructions or entity references beyond the predefined five; plus xbosh's own
 * limits on depth, attribute count and name bytes per element. Every violation is a
 * {@link BoshException} with {@code bad-request}.
 *
 * <p>Each parse has a factory of its own. Aalto's factory keeps symbol tables (element and
 * attribute names, namespace URIs) that every reader it creates merges into and that are never
 * reset: shared between requests, a stream of bodies full of new names makes every later parse
 * slower and the heap larger without bound. A fresh factory costs a few small objects; the work of
 * a parse is then bounded by the body alone.
 *
 * <p>Thread-safe: nothing is shared between calls.
 */
public final class BodyParser {

  private static final Map<String, String> UPSTREAM_SCOPE = Map.of("", Namespaces.CLIENT, "stream", Namespaces.STREAMS);

  /** The most characters of names (element, attributes, namespace prefixes and URIs) one element may carry. */
  public static final int MAX_NAME_CHARS_PER_ELEMENT = 4096;

  private final int maxDepth;
  private final int maxAttributes;
  private final int maxPayloadChars;

  /** @param maxAttributes attributes plus namespace declarations one element may carry */
  public BodyParser(int maxDepth, int maxAttributes, int maxPayloadChars) {
    this.maxDepth = maxDepth;
    this.maxAttributes = maxAttributes;
    this.maxPayloadChars = maxPayloadChars;
  }

  /** A StAX factory with DTDs, external entities and entity replacement all off. */
  public static XMLInputFactory secureFactory() {
    XMLInputFactory f = new InputFactoryImpl();
    f.setProperty(XMLInputFactory.SUPPORT_DTD, false);
    f.setProperty(XMLInputFactory.IS_SUPPORTING_EXTERNAL_ENTITIES, false);
    f.setProperty(XMLInputFactory.IS_REPLACING_ENTITY_REFERENCES, false);
    f.setProperty(XMLInputFactory.IS_COALESCING, false);
    f.setProperty(XMLInputFactory.IS_NAMESPACE_AWARE, true);
    return f;
  }

  public BoshBody parse(byte[] bytes) {
    XMLStreamReader r = null;
    try {
      r = secureFactory().createXMLStreamReader(new java.io.ByteArrayInputStream(bytes));
      return parse(r);
    } catch (XMLStreamException | RuntimeException e) {
      if (e instanceof BoshException be) {
        throw be;
      }
      throw BoshException.badRequest("malformed body: " + firstLine(e.getMessage()));
    } finally {
      if (r != null) {
        try {
          r.close();
        } catch (XMLStreamException ignored) {
          // nothing to release beyond the byte array
        }
      }
    }
  }

  private BoshBody parse(XMLStreamReader r) throws XMLStreamException {
    Map<String, String> attributes = null;
    List<String> payloads = new ArrayList<>();
    ElementWriter writer = new ElementWriter(UPSTREAM_SCOPE, Namespaces.HTTPBIND, Namespaces.CLIENT, maxPayloadChars);
    boolean bodyClosed = false;
    while (r.hasNext()) {
      int event = r.next();
      switch (event) {
        case XMLStreamConstants.START_ELEMENT -> {
          if (bodyClosed) {
            throw BoshException.badRequest("content after </body>");
          }
          checkNames(r);
          if (attributes == null) {
            attributes = rootAttributes(r);
          } else {
            if (writer.depth() + 1 >= maxDepth) {
              throw BoshException.badRequest("payload nested too deeply");
            }
            writer.start(r);
          }
        }
        case XMLStreamConstants.END_ELEMENT -> {
          if (writer.inElement()) {
            String payload = writer.end(r);
            if (payload != null) {
              payloads.add(payload);
            }
          } else {
            bodyClosed = true;
          }
        }
        case XMLStreamConstants.CHARACTERS, XMLStreamConstants.CDATA, XMLStreamConstants.SPACE -> {
          if (writer.inElement()) {
            writer.text(r);
          } else if (!r.isWhiteSpace()) {
            // XEP-0124 §6: no character data directly inside <body/>
            throw BoshException.badRequest("character data in body");
          }
        }
        case XMLStreamConstants.COMMENT -> throw BoshException.badRequest("comment in body");
        case XMLStreamConstants.PROCESSING_INSTRUCTION -> throw BoshException.badRequest("processing instruction in body");
        case XMLStreamConstants.DTD -> throw BoshException.badRequest("DTD in body");
        case XMLStreamConstants.ENTITY_REFERENCE -> throw BoshException.badRequest("entity reference in body");
        case XMLStreamConstants.END_DOCUMENT -> {
          // handled after the loop
        }
        default -> {
          // START_DOCUMENT and the like
        }
      }
    }
    if (attributes == null || !bodyClosed) {
      throw BoshException.badRequest("no complete <body/>");
    }
    return new BoshBody(attributes, payloads);
  }

  /** Bounds what one element's names may cost downstream (maps, re-serialisation, logs). */
  private void checkNames(XMLStreamReader r) {
    int attributes = r.getAttributeCount();
    int namespaces = r.getNamespaceCount();
    if (attributes + namespaces > maxAttributes) {
      throw BoshException.badRequest("too many attributes");
    }
    long chars = length(r.getPrefix()) + r.getLocalName().length();
    for (int i = 0; i < attributes; i++) {
      chars += length(r.getAttributePrefix(i)) + r.getAttributeLocalName(i).length();
    }
    for (int i = 0; i < namespaces; i++) {
      chars += length(r.getNamespacePrefix(i)) + length(r.getNamespaceURI(i));
    }
    if (chars > MAX_NAME_CHARS_PER_ELEMENT) {
      throw BoshException.badRequest("element names too long");
    }
  }

  private static int length(String s) {
    return s == null ? 0 : s.length();
  }

  private static Map<String, String> rootAttributes(XMLStreamReader r) {
    if (!"body".equals(r.getLocalName()) || !Namespaces.HTTPBIND.equals(r.getNamespaceURI())) {
      throw BoshException.badRequest("root element is not <body xmlns='" + Namespaces.HTTPBIND + "'/>");
    }
    Map<String, String> attributes = new HashMap<>();
    for (int i = 0, n = r.getAttributeCount(); i < n; i++) {
      String ns = r.getAttributeNamespace(i);
      String key = ns == null || ns.isEmpty() ? r.getAttributeLocalName(i) : "{" + ns + "}" + r.getAttributeLocalName(i);
      attributes.put(key, r.getAttributeValue(i));
    }
    String rid = attributes.get("rid");
    if (rid == null) {
      throw BoshException.badRequest("missing rid");
    }
    BoshValues.parseRid(rid);
    return attributes;
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
