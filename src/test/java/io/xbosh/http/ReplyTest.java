package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.InflaterInputStream;
import org.junit.jupiter.api.Test;

/** The pooled compressors give the bytes the JDK's streams give, response after response (XEP-0124 §5). */
class ReplyTest {

  private static byte[] body(int stanzas) {
    StringBuilder sb = new StringBuilder("<body xmlns='http://jabber.org/protocol/httpbind'>");
    for (int i = 0; i < stanzas; i++) {
      sb.append("<message xmlns='jabber:client' to='u").append(i).append("@localhost'><body>hello ").append(i)
          .append("</body></message>");
    }
    return sb.append("</body>").toString().getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] incompressible(int n) {
    byte[] b = new byte[n];
    new Random(7).nextBytes(b);
    return b;
  }

  private static byte[] jdkGzip(byte[] in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out, 1024)) {
      gz.write(in);
    }
    return out.toByteArray();
  }

  private static byte[] jdkZlib(byte[] in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (DeflaterOutputStream z = new DeflaterOutputStream(out)) {
      z.write(in);
    }
    return out.toByteArray();
  }

  @Test
  void gzipIsByteForByteWhatGzipOutputStreamWritesAcrossReuse() throws IOException {
    for (byte[] in : new byte[][] {body(3), body(400), incompressible(70_000), body(1), body(50)}) {
      byte[] ours = Reply.compress("gzip", in);
      assertThat(ours).isEqualTo(jdkGzip(in));
      assertThat(new GZIPInputStream(new ByteArrayInputStream(ours)).readAllBytes()).isEqualTo(in);
    }
  }

  @Test
  void deflateIsTheZlibFormatAcrossReuse() throws IOException {
    for (byte[] in : new byte[][] {body(400), incompressible(70_000), body(3), body(50)}) {
      byte[] ours = Reply.compress("deflate", in);
      assertThat(ours).isEqualTo(jdkZlib(in));
      assertThat(new InflaterInputStream(new ByteArrayInputStream(ours)).readAllBytes()).isEqualTo(in);
    }
  }
}
