package io.xbosh.http;

import java.util.Map;
import org.junit.jupiter.api.BeforeAll;

/** The HTTP suite on the embedded in-process store. */
class BoshHttpInProcessIT extends BoshHttpContract {

  @BeforeAll
  static void start() throws Exception {
    startAll(Map.of());
  }
}
