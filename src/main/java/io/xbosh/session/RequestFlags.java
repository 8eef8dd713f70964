package io.xbosh.session;

import java.util.regex.Pattern;

/**
 * What a client request asks of the store besides its rid and payload (XEP-0124 §10, §13, §15,
 * §16, §19; XEP-0206 §5; XEP-0252). The store keeps it, in the compact form of
 * {@link RequestFlagsCodec}, with a parked request until its turn.
 *
 * @param restart     XEP-0206 §5 stream restart
 * @param terminate   XEP-0124 §13 client terminate
 * @param pause       XEP-0124 §10 pause, seconds; 0 for none
 * @param open        XEP-0124 §16.3: open the stream named {@code stream}
 * @param fragment    XEP-0252: the payload is raw script-syntax content
 * @param key         XEP-0124 §15 {@code key}, or null
 * @param newKey      XEP-0124 §15 {@code newkey}, or null
 * @param ack         XEP-0124 §9.2 {@code ack}, or null when the request carries none
 * @param stream      XEP-0124 §16.4 the stream the request is for (the new one's name with
 *                    {@code open}), or null
 * @param unencrypted whether the request came over plain HTTP (XEP-0124 §19.1)
 */
public record RequestFlags(boolean restart, boolean terminate, long pause, boolean open, boolean fragment, String key,
    String newKey, Long ack, String stream, boolean unencrypted) {

  /** A plain poll or payload request, encrypted: nothing asked besides the rid. */
  public static final RequestFlags NONE = new RequestFlags(false, false, 0, false, false, null, null, null, null, false);

  /** What a key (XEP-0124 §15) may be: the hex digests clients compute. */
  public static final Pattern KEY = Pattern.compile("[A-Za-z0-9]{1,128}");
  /** What a stream name (XEP-0124 §16.2) may be. */
  public static final Pattern STREAM = Pattern.compile("[A-Za-z0-9_-]{1,64}");

  public RequestFlags {
    if (pause < 0) {
      throw new IllegalArgumentException("negative pause");
    }
    if (ack != null && ack < 0) {
      throw new IllegalArgumentException("negative ack");
    }
    if (key != null && !KEY.matcher(key).matches() || newKey != null && !KEY.matcher(newKey).matches()) {
      throw new IllegalArgumentException("malformed key");
    }
    if (stream != null && !STREAM.matcher(stream).matches()) {
      throw new IllegalArgumentException("malformed stream name");
    }
  }

  public RequestFlags withRestart() {
    return new RequestFlags(true, terminate, pause, open, fragment, key, newKey, ack, stream, unencrypted);
  }

  public RequestFlags withTerminate() {
    return new RequestFlags(restart, true, pause, open, fragment, key, newKey, ack, stream, unencrypted);
  }

  public RequestFlags withPause(long seconds) {
    return new RequestFlags(restart, terminate, seconds, open, fragment, key, newKey, ack, stream, unencrypted);
  }

  /** A request opening the stream {@code name}. */
  public RequestFlags opening(String name) {
    return new RequestFlags(restart, terminate, pause, true, fragment, key, newKey, ack, name, unencrypted);
  }

  public RequestFlags withFragment() {
    return new RequestFlags(restart, terminate, pause, open, true, key, newKey, ack, stream, unencrypted);
  }

  public RequestFlags withKey(String k) {
    return new RequestFlags(restart, terminate, pause, open, fragment, k, newKey, ack, stream, unencrypted);
  }

  public RequestFlags withNewKey(String n) {
    return new RequestFlags(restart, terminate, pause, open, fragment, key, n, ack, stream, unencrypted);
  }

  public RequestFlags withAck(long a) {
    return new RequestFlags(restart, terminate, pause, open, fragment, key, newKey, a, stream, unencrypted);
  }

  public RequestFlags withStream(String s) {
    return new RequestFlags(restart, terminate, pause, open, fragment, key, newKey, ack, s, unencrypted);
  }

  public RequestFlags withUnencrypted(boolean plain) {
    return new RequestFlags(restart, terminate, pause, open, fragment, key, newKey, ack, stream, plain);
  }

  /** XEP-0124 §11: a pause or terminate request may be one beyond {@code requests}. */
  public boolean widensWindow() {
    return pause > 0 || terminate;
  }

  /** Whether a request with these flags and this payload is an empty poll (XEP-0124 §11, §12). */
  public boolean emptyWith(String payload) {
    return payload.isEmpty() && !restart && !terminate && !open && !fragment && pause == 0;
  }

  /** Whether a processed request with these flags and payload gives the upstream link anything to do. */
  public boolean carries(String payload) {
    return !payload.isEmpty() || restart || terminate;
  }
}
