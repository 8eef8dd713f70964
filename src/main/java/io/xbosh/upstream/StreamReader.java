package io.xbosh.upstream;

import com.fasterxml.aalto.AsyncByteArrayFeeder;
import com.fasterxml.aalto.AsyncXMLInputFactory;
import com.fasterxml.aalto.AsyncXMLStreamReader;
import com.fasterxml.aalto.stax.InputFactoryImpl;
import io.xbosh.protocol.ElementWriter;
import io.xbosh.protocol.Namespaces;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.xml.stream.XMLInputFactory;
import javax.xml.stream.XMLStreamConstants;
import javax.xml.stream.XMLStreamException;

/**
 * Non-blocking reader of an XMPP c2s stream from the server: bytes in, stream header, whole
 * top-level stanzas and the stream end out. Each stanza is re-serialised for a BOSH {@code <body/>}
 * (namespaces declared where the body does not provide them). A restart needs a fresh reader
 * ({@link #reset()}), since the server starts a new XML document.
 *
 * <p>Confined to one thread. Bounded: stanza size and nesting depth; beyond them, and on any XML
 * the server should never send (DTD, PI, comment), {@link #feed} throws {@link StreamException}.
 * The bounds hold while a token is still arriving: the parser buffers a start tag whole before it
 * reports it, so after every chunk the bytes of the unfinished stanza (or stream header) are
 * counted, and a 100 MB attribute value fails once it passes the bound, not once it is complete.
 *
 * <p>Between stanzas the parser is let go: an idle stream (most of a BOSH session's life) keeps no
 * Aalto reader, scanner or symbol table, only the stream header's namespace declarations. The next
 * bytes get a fresh reader that first reads a copy of the header's start tag (nothing is reported
 * for it), so every stanza is read in the scope the server declared.
 *
 * <p>The readers of every stream on a thread come from one factory, whose symbol table keeps the
 * names they saw (a reader gives its new names back when it is closed): the XMPP vocabulary is
 * entered once, not once per stanza, as a factory per reader did. Names reach the stream from
 * other clients too, so the table is bounded like {@code BodyParser}'s: after
 * {@link #NAMES_PER_FACTORY} names (counted, not distinct) the thread's next reader comes from a
 * fresh factory, and the old one goes with its last reader.
 */
public final class StreamReader {

  /** Stanzas re-serialised for a BOSH {@code <body/>}, which declares httpbind and the stream prefix. */
  public static final Map<String, String> BODY_SCOPE = Map.of("", Namespaces.HTTPBIND, "stream", Namespaces.STREAMS);
  /** Stanzas that stand alone, every namespace declared on them (RFC 7395 §3.3.3: one element per WebSocket message). */
  public static final Map<String, String> STANDALONE_SCOPE = Map.of();
  private static final String COMPRESS_FEATURE_NS = "http://jabber.org/features/compress";
  /** Bytes of the stream header at most, attributes included. */
  static final int MAX_HEADER_BYTES = 16 * 1024;
  /** Characters of the stream's {@code id} and {@code from} at most (a domain is at most 1023 bytes, RFC 7622 §3.2). */
  static final int MAX_HEADER_VALUE_CHARS = 1024;

  /** What the reader found in one {@link #feed} call. */
  public interface Handler {
    void streamOpened(Map<String, String> attributes);

    void stanzas(List<String> stanzas);

    /** A {@code <stream:error/>}: the server is about to close the stream (XEP-0206 §6). */
    void streamError(String error);

    void streamClosed();
  }

  /** The server sent something xbosh will not pass on. */
  public static final class StreamException extends Exception {
    public StreamException(String message) {
      super(message, null, false, false);
    }
  }

  private final Handler handler;
  private final int maxStanzaChars;
  private final int maxDepth;
  private final Map<String, String> scope;
  /** the parser, null while parked between stanzas */
  private AsyncXMLStreamReader<AsyncByteArrayFeeder> reader;
  /** the stream header's start tag with its namespace declarations only, what a fresh parser reads first */
  private byte[] header;
  /** bytes given to the current parser, the copied header included */
  private long fedBytes;
  /** the copied header's start element is still to come from a fresh parser: it is not reported */
  private boolean skipHeader;
  private ElementWriter writer;
  private boolean open;
  private int skipDepth;
  private boolean topIsFeatures;
  private boolean topIsError;
  private boolean starttlsOffered;
  /** where the top-level element being read began in the input, -1 between stanzas */
  private long stanzaStart = -1;

  public StreamReader(Handler handler, int maxStanzaChars, int maxDepth) {
    this(handler, maxStanzaChars, maxDepth, BODY_SCOPE);
  }

  /** @param scope the bindings the stanzas' new parent provides ({@link #BODY_SCOPE} or {@link #STANDALONE_SCOPE}) */
  public StreamReader(Handler handler, int maxStanzaChars, int maxDepth, Map<String, String> scope) {
    this.handler = handler;
    this.scope = scope;
    this.maxStanzaChars = maxStanzaChars;
    this.maxDepth = maxDepth;
    reset();
  }

  /** Names (elements, attributes, namespace declarations) the readers of one factory may see before the thread gets a fresh one. */
  static final int NAMES_PER_FACTORY = 2048;
  private static final ThreadLocal<SharedFactory> FACTORIES = ThreadLocal.withInitial(SharedFactory::new);

  /** A thread's factory and the names its readers have parsed. */
  static final class SharedFactory {
    private AsyncXMLInputFactory factory = factory();
    private int names;
    /** fresh factories this thread has had, readers made by the current one (tests) */
    private int replaced;
    private int readers;

    AsyncXMLStreamReader<AsyncByteArrayFeeder> newReader() {
      if (names >= NAMES_PER_FACTORY) {
        factory = factory();
        names = 0;
        readers = 0;
        replaced++;
      }
      readers++;
      return factory.createAsyncForByteArray();
    }

    int replaced() {
      return replaced;
    }

    int readers() {
      return readers;
    }

    int names() {
      return names;
    }
  }

  /** The calling thread's factory (tests). */
  static SharedFactory threadFactory() {
    return FACTORIES.get();
  }

  /** the factory the current reader came from, its names counted there */
  private SharedFactory source;

  private static AsyncXMLInputFactory factory() {
    InputFactoryImpl f = new InputFactoryImpl();
    f.setProperty(XMLInputFactory.SUPPORT_DTD, false);
    f.setProperty(XMLInputFactory.IS_SUPPORTING_EXTERNAL_ENTITIES, false);
    f.setProperty(XMLInputFactory.IS_REPLACING_ENTITY_REFERENCES, false);
    f.setProperty(XMLInputFactory.IS_NAMESPACE_AWARE, true);
    return f;
  }

  /** Starts a new XML document: after a stream restart (XEP-0206 §5). */
  public void reset() {
    source = FACTORIES.get();
    reader = source.newReader();
    writer = new ElementWriter(scope, null, null, maxStanzaChars);
    header = null;
    fedBytes = 0;
    skipHeader = false;
    open = false;
    skipDepth = 0;
    stanzaStart = -1;
  }

  public void feed(byte[] bytes) throws StreamException {
    List<String> batch = new ArrayList<>();
    try {
      if (reader == null) {
        unpark();
      }
      int off = 0;
      while (off < bytes.length || !reader.getInputFeeder().needMoreInput()) {
        if (reader.getInputFeeder().needMoreInput()) {
          reader.getInputFeeder().feedInput(bytes, off, bytes.length - off);
          fedBytes += bytes.length - off;
          off = bytes.length;
        }
        if (!drain(batch)) {
          return; // the stream ended
        }
      }
      parkIfBetweenStanzas(bytes);
    } catch (XMLStreamException e) {
      throw new StreamException("malformed XML from server: " + e.getMessage());
    } catch (ElementWriter.FragmentTooLargeException e) {
      throw new StreamException(e.getMessage());
    } finally {
      if (!batch.isEmpty()) {
        handler.stanzas(batch);
      }
    }
  }

  /**
   * Lets the parser go when nothing of the next stanza has arrived: the stream is open, no element
   * is being read, and what the parser holds unread is whitespace (dropped between stanzas anyway).
   */
  private void parkIfBetweenStanzas(byte[] last) throws XMLStreamException {
    if (!open || skipHeader || writer.inElement() || skipDepth > 0 || header == null) {
      return;
    }
    long pending = fedBytes - reader.getLocationInfo().getStartingByteOffset();
    if (pending < 0 || pending > last.length) {
      return;
    }
    for (int i = last.length - (int) pending; i < last.length; i++) {
      byte b = last[i];
      if (b != ' ' && b != '\t' && b != '\n' && b != '\r') {
        return;
      }
    }
    reader.close();
    reader = null;
    // and the writer, which is empty between stanzas (its scopes and buffer)
    writer = null;
  }

  private void unpark() throws XMLStreamException {
    source = FACTORIES.get();
    reader = source.newReader();
    writer = new ElementWriter(scope, null, null, maxStanzaChars);
    reader.getInputFeeder().feedInput(header, 0, header.length);
    fedBytes = header.length;
    skipHeader = true;
  }

  /** The header's start tag as a fresh parser needs it: its name and namespace declarations, no attributes. */
  private void keepHeader() {
    StringBuilder sb = new StringBuilder("<");
    String prefix = reader.getPrefix();
    if (prefix != null && !prefix.isEmpty()) {
      sb.append(prefix).append(':');
    }
    sb.append(reader.getLocalName());
    for (int i = 0; i < reader.getNamespaceCount(); i++) {
      String p = reader.getNamespacePrefix(i);
      sb.append(p == null || p.isEmpty() ? " xmlns" : " xmlns:" + p).append("=\"");
      io.xbosh.protocol.XmlEscape.attribute(sb, reader.getNamespaceURI(i)).append('"');
    }
    header = sb.append('>').toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  /** Processes available events; false when the stream ended. */
  private boolean drain(List<String> batch) throws XMLStreamException, StreamException {
    int event;
    while ((event = reader.next()) != AsyncXMLStreamReader.EVENT_INCOMPLETE) {
      switch (event) {
        case XMLStreamConstants.START_ELEMENT -> startElement();
        case XMLStreamConstants.END_ELEMENT -> {
          if (skipDepth > 0) {
            skipDepth--;
          } else if (writer.inElement()) {
            String stanza = writer.end(reader);
            if (stanza != null) {
              stanzaStart = -1;
            }
            if (stanza != null && topIsError) {
              flush(batch);
              handler.streamError(stanza);
            } else if (stanza != null) {
              batch.add(stanza);
            }
          } else {
            // </stream:stream>
            flush(batch);
            handler.streamClosed();
            return false;
          }
        }
        case XMLStreamConstants.CHARACTERS, XMLStreamConstants.CDATA, XMLStreamConstants.SPACE -> {
          if (skipDepth == 0 && writer.inElement()) {
            writer.text(reader);
          }
          // whitespace keep-alives between stanzas are dropped
        }
        case XMLStreamConstants.DTD, XMLStreamConstants.COMMENT, XMLStreamConstants.PROCESSING_INSTRUCTION,
            XMLStreamConstants.ENTITY_REFERENCE -> throw new StreamException("server sent forbidden XML construct " + event);
        case XMLStreamConstants.END_DOCUMENT -> {
          return false;
        }
        default -> {
          // START_DOCUMENT (the XML declaration)
        }
      }
    }
    checkUnfinished();
    return true;
  }

  /** The input is used up mid-token: bound what the parser holds of the unfinished stanza or header. */
  private void checkUnfinished() throws XMLStreamException, StreamException {
    long fed = reader.getLocationInfo().getEndingByteOffset();
    long tokenStart = reader.getLocationInfo().getStartingByteOffset();
    if (!open) {
      if (fed - tokenStart > MAX_HEADER_BYTES) {
        throw new StreamException("stream header from server longer than " + MAX_HEADER_BYTES + " bytes");
      }
      return;
    }
    // the input may legitimately be larger than its re-serialised form (character references,
    // redundant namespace declarations): twice the stanza bound
    long unfinished = fed - (stanzaStart >= 0 ? stanzaStart : tokenStart);
    if (unfinished > 2L * maxStanzaChars) {
      throw new StreamException("stanza from server longer than " + maxStanzaChars + " characters");
    }
  }

  private void startElement() throws StreamException {
    source.names += 1 + reader.getAttributeCount() + reader.getNamespaceCount();
    if (skipHeader) {
      skipHeader = false; // the copy of the header a fresh parser began with
      return;
    }
    if (!open) {
      if (!"stream".equals(reader.getLocalName()) || !Namespaces.STREAMS.equals(reader.getNamespaceURI())) {
        throw new StreamException("server did not open an XMPP stream");
      }
      open = true;
      Map<String, String> attrs = new HashMap<>();
      for (int i = 0; i < reader.getAttributeCount(); i++) {
        String ns = reader.getAttributeNamespace(i);
        String key = ns == null || ns.isEmpty() ? reader.getAttributeLocalName(i) : "{" + ns + "}" + reader.getAttributeLocalName(i);
        attrs.put(key, reader.getAttributeValue(i));
      }
      for (String name : List.of("id", "from")) {
        // the id reaches the client as authid, from as the session's from
        String v = attrs.get(name);
        if (v != null && v.length() > MAX_HEADER_VALUE_CHARS) {
          throw new StreamException("stream " + name + " from server longer than " + MAX_HEADER_VALUE_CHARS + " characters");
        }
      }
      keepHeader();
      handler.streamOpened(attrs);
      return;
    }
    if (skipDepth > 0) {
      skipDepth++;
      return;
    }
    if (writer.depth() + 1 >= maxDepth) {
      throw new StreamException("server stanza nested too deeply");
    }
    if (writer.depth() == 0) {
      stanzaStart = reader.getLocationInfo().getStartingByteOffset();
      boolean streams = Namespaces.STREAMS.equals(reader.getNamespaceURI());
      topIsFeatures = streams && "features".equals(reader.getLocalName());
      if (topIsFeatures) {
        starttlsOffered = false;
      }
      topIsError = streams && "error".equals(reader.getLocalName());
    } else if (writer.depth() == 1 && topIsFeatures && isHiddenFeature(reader.getNamespaceURI())) {
      // XEP-0206 §4, B-61: TLS and stream compression are xbosh's business, not the client's
      starttlsOffered |= Namespaces.TLS.equals(reader.getNamespaceURI()) && "starttls".equals(reader.getLocalName());
      skipDepth = 1;
      return;
    }
    writer.start(reader);
  }

  private void flush(List<String> batch) {
    if (!batch.isEmpty()) {
      handler.stanzas(new ArrayList<>(batch));
      batch.clear();
    }
  }

  /** Whether the parser was let go (the stream idles between stanzas). */
  boolean parked() {
    return reader == null;
  }

  /** Whether the last {@code <stream:features/>} read offered STARTTLS (which is not passed on). */
  public boolean starttlsOffered() {
    return starttlsOffered;
  }

  private boolean isHiddenFeature(String ns) {
    return Namespaces.TLS.equals(ns) || COMPRESS_FEATURE_NS.equals(ns);
  }
}
