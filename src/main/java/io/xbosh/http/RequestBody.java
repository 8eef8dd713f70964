package io.xbosh.http;

import io.xbosh.protocol.BoshException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import java.util.zip.Inflater;
import java.util.zip.InflaterInputStream;

/** Turns what arrived over HTTP into the bytes of one {@code <body/>}: content codings and script syntax. */
final class RequestBody {

  /** The request's bytes decoded would exceed the body limit. */
  static final class TooLarge extends RuntimeException {
    TooLarge() {
      super("decoded body too large", null, false, false);
    }
  }

  private RequestBody() {
  }

  /**
   * XEP-0124 §7.2: a request may be compressed with a coding from the {@code accept} list. The
   * decoded size is bounded like an uncoded body (a small compressed body can expand a thousandfold).
   *
   * @throws BoshException bad-request for an unknown coding or corrupt data
   * @throws TooLarge      when the decoded body would exceed {@code max}
   */
  static byte[] decode(String contentEncoding, byte[] bytes, int max) {
    if (contentEncoding == null) {
      return bytes;
    }
    String coding = contentEncoding.trim().toLowerCase(Locale.ROOT);
    if (coding.isEmpty() || coding.equals("identity")) {
      return bytes;
    }
    // HTTP "deflate" is zlib-wrapped; some clients send raw deflate, which is accepted too
    Inflater deflate = coding.equals("deflate") ? new Inflater(!zlibHeader(bytes)) : null;
    try (InputStream in = switch (coding) {
      case "gzip", "x-gzip" -> new GZIPInputStream(new ByteArrayInputStream(bytes), 4096);
      case "deflate" -> new InflaterInputStream(new ByteArrayInputStream(bytes), deflate, 4096);
      default -> throw BoshException.badRequest("unsupported Content-Encoding");
    }) {
      ByteArrayOutputStream out = new ByteArrayOutputStream(Math.min(max, bytes.length * 4 + 64));
      byte[] buf = new byte[4096];
      for (int n; (n = in.read(buf)) > 0; ) {
        if (out.size() + n > max) {
          throw new TooLarge();
        }
        out.write(buf, 0, n);
      }
      return out.toByteArray();
    } catch (IOException e) {
      throw BoshException.badRequest("corrupt or truncated " + coding + " body");
    } finally {
      if (deflate != null) {
        deflate.end(); // a stream given its own inflater leaves ending it to the caller
      }
    }
  }

  /** RFC 1950 §2.2: a zlib stream starts with CM=8 and a header that is a multiple of 31. */
  private static boolean zlibHeader(byte[] b) {
    return b.length >= 2 && (b[0] & 0x0f) == 8 && (((b[0] & 0xff) << 8) | (b[1] & 0xff)) % 31 == 0;
  }

  /**
   * XEP-0252 §3: the body of a script-syntax GET, percent-encoded after the {@code ?}. A {@code +}
   * is a plus sign here, not a space (the query is not a form).
   */
  static byte[] fromQuery(String rawQuery, int max) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(Math.min(rawQuery.length(), max));
    for (int i = 0; i < rawQuery.length(); i++) {
      char c = rawQuery.charAt(i);
      if (c == '%') {
        if (i + 2 >= rawQuery.length()) {
          throw BoshException.badRequest("malformed percent-encoding");
        }
        int hi = Character.digit(rawQuery.charAt(i + 1), 16);
        int lo = Character.digit(rawQuery.charAt(i + 2), 16);
        if (hi < 0 || lo < 0) {
          throw BoshException.badRequest("malformed percent-encoding");
        }
        out.write(hi << 4 | lo);
        i += 2;
      } else if (c < 0x80) {
        out.write(c);
      } else {
        throw BoshException.badRequest("unencoded non-ASCII in the query");
      }
      if (out.size() > max) {
        throw new TooLarge();
      }
    }
    return out.toByteArray();
  }
}
