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
 * <p>Names cost more than their bytes: Aalto enters each into symbol tables whose lookups slow
 * down as they fill. So before Aalto sees a body, one pass over its bytes counts the attributes of
 * each tag and the names of the body ({@link #MAX_NAMES_PER_BODY}). And Aalto's factory merges
 * the tables of every reader it made and never resets them: shared for good, a stream of bodies
 * full of new names made every later parse slower and the heap larger without bound. Each thread
 * therefore keeps its factory only for {@link #NAMES_PER_FACTORY} names (counted, not distinct)
 * and starts a fresh one after that or after any body of more than {@link #NAMES_KEPT} names: the
 * tables never hold more than a few thousand names, and the common XMPP vocabulary stays interned
 * between ordinary requests (a factory per body would cost three times the parse of a small stanza).
 *
 * <p>Thread-safe: a factory per thread, readers per call.
 */
public final class BodyParser {

  private static final Map<String, String> UPSTREAM_SCOPE = Map.of("", Namespaces.CLIENT, "stream", Namespaces.STREAMS);

  /** The most characters of names (element, attributes, namespace prefixes and URIs) one element may carry. */
  public static final int MAX_NAME_CHARS_PER_ELEMENT = 4096;

  /** Element and attribute names (namespace declarations included) one body may carry. */
  public static final int MAX_NAMES_PER_BODY = 4096;
  /** Names a thread's factory may see before it is replaced, which bounds its symbol tables. */
  static final int NAMES_PER_FACTORY = 2048;
  /** A body with more names than this gets a factory that is dropped after it. */
  static final int NAMES_KEPT = 256;

  private final int maxDepth;
  private final int maxAttributes;
  private final int maxPayloadChars;
  private final ThreadLocal<BudgetedFactory> factories = ThreadLocal.withInitial(BudgetedFactory::new);

  /** A factory and how many names its readers have parsed. */
  private static final class BudgetedFactory {
    XMLInputFactory factory = secureFactory();
    int names;

    XMLInputFactory take(int bodyNames) {
      if (bodyNames > NAMES_KEPT) {
        names = NAMES_PER_FACTORY; // this body's names go with the factory it gets
        return secureFactory();
      }
      if (names >= NAMES_PER_FACTORY) {
        factory = secureFactory();
        names = 0;
      }
      names += bodyNames;
      return factory;
    }
  }

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
      int names = countNames(bytes);
      r = factories.get().take(names).createXMLStreamReader(new java.io.ByteArrayInputStream(bytes));
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

  /**
   * One pass over the raw bytes, before any parser: the names of the body (a tag's name, each
   * {@code =} inside a tag outside quotes), at most {@code maxAttributes} attributes per tag and
   * {@link #MAX_NAMES_PER_BODY} in all. CDATA sections, comments and processing instructions are
   * skipped (the parser rejects all but CDATA).
   */
  int countNames(byte[] b) {
    int names = 0;
    int inTag = 0; // attributes of the open tag + 1; 0 outside tags
    byte quote = 0;
    for (int i = 0; i < b.length; i++) {
      byte c = b[i];
      if (quote != 0) {
        quote = c == quote ? 0 : quote;
      } else if (inTag > 0) {
        if (c == '"' || c == '\'') {
          quote = c;
        } else if (c == '=') {
          if (inTag++ > maxAttributes) {
            throw BoshException.badRequest("too many attributes");
          }
          names++;
        } else if (c == '>') {
          inTag = 0;
        }
      } else if (c == '<') {
        int skipTo = skip(b, i);
        if (skipTo > i) {
          i = skipTo;
          continue;
        }
        inTag = 1;
        names++;
      }
      if (names > MAX_NAMES_PER_BODY) {
        throw BoshException.badRequest("too many names in one body");
      }
    }
    return names;
  }

  private static final byte[] CDATA_OPEN = "<![CDATA[".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CDATA_CLOSE = "]]>".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] COMMENT_OPEN = "<!--".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] COMMENT_CLOSE = "-->".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] PI_OPEN = "<?".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] PI_CLOSE = "?>".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /** Where a CDATA section, comment or PI starting at {@code i} ends (its last byte); {@code i} if none starts there. */
  private static int skip(byte[] b, int i) {
    byte[] close = startsWith(b, i, CDATA_OPEN) ? CDATA_CLOSE : startsWith(b, i, COMMENT_OPEN) ? COMMENT_CLOSE
        : startsWith(b, i, PI_OPEN) ? PI_CLOSE : null;
    if (close == null) {
      return i;
    }
    for (int j = i + 2; j + close.length <= b.length; j++) {
      if (startsWith(b, j, close)) {
        return j + close.length - 1;
      }
    }
    return b.length;
  }

  private static boolean startsWith(byte[] b, int at, byte[] prefix) {
    if (at + prefix.length > b.length) {
      return false;
    }
    for (int k = 0; k < prefix.length; k++) {
      if (b[at + k] != prefix[k]) {
        return false;
      }
    }
    return true;
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
