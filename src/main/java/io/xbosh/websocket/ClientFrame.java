package io.xbosh.websocket;

/** One message from a WebSocket client, parsed (RFC 7395 §3.3.3: one whole element each). */
sealed interface ClientFrame {

  /** RFC 7395 §3.4: {@code <open/>}, the stream header; a later one restarts the stream (§3.5). */
  record Open(String to, String from, String lang, String version) implements ClientFrame {
  }

  /** RFC 7395 §3.6: {@code <close/>}, the stream's end. */
  record Close() implements ClientFrame {
  }

  /** A stanza or other first-level element, re-serialised for the c2s stream (default namespace jabber:client). */
  record Element(String xml) implements ClientFrame {
  }

  /** The message breaks a rule: the stream ends with {@code condition}. */
  final class FrameException extends RuntimeException {
    private final StreamError condition;

    FrameException(StreamError condition, String message) {
      super(message, null, false, false);
      this.condition = condition;
    }

    StreamError condition() {
      return condition;
    }
  }
}
