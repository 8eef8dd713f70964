package io.xbosh.http;

import io.netty.buffer.ByteBufUtil;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.xbosh.pod.HeldRequest;
import io.xbosh.protocol.Negotiator;
import io.xbosh.vertx.PooledUtf8;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.zip.Deflater;
import java.util.zip.CRC32;
import java.util.zip.GZIPOutputStream;

/**
 * How one HTTP exchange gets its BOSH answer: in pure syntax or in script syntax (XEP-0252), and
 * compressed with a coding the request's Accept-Encoding lists (XEP-0124 §5) or not. Every answer
 * carries a Content-Length, never chunked (B-03).
 */
final class Reply implements HeldRequest.Writer {

  /** Codings xbosh compresses responses with and decompresses requests in (the {@code accept} attribute). */
  static final String ACCEPT = "gzip,deflate";
  /** Smaller bodies go out as they are: a gzip frame costs about 20 bytes. */
  static final int MIN_COMPRESS_BYTES = 256;
  static final String SCRIPT_CONTENT = "text/javascript; charset=utf-8";

  static final Reply PLAIN = new Reply(null, false);

  private final String coding;
  private final boolean script;

  private Reply(String coding, boolean script) {
    this.coding = coding;
    this.script = script;
  }

  /** The answer format for a request: script syntax for GET, the best coding it accepts. */
  static Reply of(HttpServerRequest req, boolean script) {
    String coding = choose(req.getHeader(HttpHeaders.ACCEPT_ENCODING));
    return coding == null && !script ? PLAIN : new Reply(coding, script);
  }

  /**
   * RFC 9110 §12.5.3: gzip preferred over deflate; {@code q=0} refuses a coding. Null when neither
   * is acceptable.
   */
  static String choose(String acceptEncoding) {
    if (acceptEncoding == null || acceptEncoding.length() > 1024) {
      return null;
    }
    boolean gzip = false;
    boolean deflate = false;
    for (String part : acceptEncoding.split(",", 32)) {
      String[] p = part.trim().split(";", 8);
      String name = p[0].trim().toLowerCase(Locale.ROOT);
      boolean refused = false;
      for (int i = 1; i < p.length; i++) {
        String param = p[i].trim().toLowerCase(Locale.ROOT);
        if (param.startsWith("q=") && param.substring(2).matches("0(\\.0{0,3})?")) {
          refused = true;
        }
      }
      if (!refused) {
        gzip |= name.equals("gzip") || name.equals("x-gzip") || name.equals("*");
        deflate |= name.equals("deflate");
      }
    }
    return gzip ? "gzip" : deflate ? "deflate" : null;
  }

  @Override
  public void write(HttpServerResponse res, int status, String contentType, String body) {
    if (res.ended() || res.closed()) {
      return;
    }
    if (script) {
      // a <script> element cannot read a status: the terminal condition in the body says it all
      status = 200;
      contentType = Negotiator.DEFAULT_CONTENT.equals(contentType) ? SCRIPT_CONTENT : contentType;
      body = script(body);
    }
    int length = ByteBufUtil.utf8Bytes(body);
    if (coding != null && length >= MIN_COMPRESS_BYTES) {
      byte[] bytes = compress(coding, body.getBytes(StandardCharsets.UTF_8));
      res.putHeader(HttpHeaders.CONTENT_ENCODING, coding);
      res.headers().add(HttpHeaders.VARY, ACCEPT_ENCODING);
      headers(res, status, contentType, bytes.length);
      res.end(Buffer.buffer(bytes));
      return;
    }
    headers(res, status, contentType, length);
    PooledUtf8.write(body, res::end);
  }

  private void headers(HttpServerResponse res, int status, String contentType, int length) {
    res.setStatusCode(status)
        .putHeader(HttpHeaders.CONTENT_TYPE, Negotiator.DEFAULT_CONTENT.equals(contentType) ? DEFAULT_CONTENT : contentType)
        .putHeader(HttpHeaders.CACHE_CONTROL, NO_STORE)
        .putHeader(HttpHeaders.CONTENT_LENGTH, Integer.toString(length));
    if (script) {
      res.putHeader(HttpHeaders.EXPIRES, "0").putHeader("Pragma", "no-cache");
    }
  }

  /** Header values of every answer, encoded once. */
  private static final CharSequence DEFAULT_CONTENT = HttpHeaders.createOptimized(Negotiator.DEFAULT_CONTENT);
  private static final CharSequence NO_STORE = HttpHeaders.createOptimized("no-store");
  private static final CharSequence ACCEPT_ENCODING = HttpHeaders.createOptimized("Accept-Encoding");

  /**
   * One zlib stream per thread, reset between responses: a fresh {@link Deflater} per response
   * allocates about 256 KiB of native state and frees it again. Event-loop threads are few and
   * long-lived, so these stay few; compression never blocks (in memory, bounded by the body size).
   */
  private static final ThreadLocal<Deflater> ZLIB = ThreadLocal.withInitial(() -> new Deflater(Deflater.DEFAULT_COMPRESSION));
  private static final ThreadLocal<Deflater> RAW = ThreadLocal.withInitial(() -> new Deflater(Deflater.DEFAULT_COMPRESSION, true));
  /** RFC 1952 member header exactly as this JDK's {@link GZIPOutputStream} writes it (its OS byte differs by version). */
  private static final byte[] GZIP_HEADER = gzipHeader();

  private static byte[] gzipHeader() {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.finish();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e); // cannot happen in memory
    }
    return java.util.Arrays.copyOf(out.toByteArray(), 10);
  }

  static byte[] compress(String coding, byte[] bytes) {
    boolean gzip = coding.equals("gzip");
    // HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2); gzip is raw deflate in RFC 1952 framing
    Deflater deflater = (gzip ? RAW : ZLIB).get();
    deflater.reset();
    deflater.setInput(bytes);
    deflater.finish();
    byte[] out = new byte[bytes.length / 2 + 64];
    int n = 0;
    if (gzip) {
      System.arraycopy(GZIP_HEADER, 0, out, 0, GZIP_HEADER.length);
      n = GZIP_HEADER.length;
    }
    while (!deflater.finished()) {
      if (n == out.length) {
        out = java.util.Arrays.copyOf(out, out.length * 2);
      }
      n += deflater.deflate(out, n, out.length - n);
    }
    deflater.setInput(EMPTY); // no reference to the body stays behind
    if (!gzip) {
      return n == out.length ? out : java.util.Arrays.copyOf(out, n);
    }
    CRC32 crc = new CRC32();
    crc.update(bytes);
    byte[] framed = java.util.Arrays.copyOf(out, n + 8);
    int c = (int) crc.getValue();
    int len = bytes.length;
    for (int i = 0; i < 4; i++) {
      framed[n + i] = (byte) (c >>> (8 * i));
      framed[n + 4 + i] = (byte) (len >>> (8 * i));
    }
    return framed;
  }

  private static final byte[] EMPTY = new byte[0];

  /** XEP-0252 §5: the body as a JavaScript string literal passed to {@code _BOSH_}. */
  static String script(String body) {
    StringBuilder sb = new StringBuilder(body.length() + 16).append("_BOSH_(\"");
    for (int i = 0; i < body.length(); i++) {
      char c = body.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        default -> {
          if (c == '\u2028' || c == '\u2029' || Character.getType(c) == Character.FORMAT) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    return sb.append("\")").toString();
  }
}
