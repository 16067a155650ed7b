// @ts-check
// The JavaScript client of fanout (github.com/fanout-go/fanout), for
// browsers and Node.js 20+, with no dependencies. One subscription reads a
// Hub over WebSocket (the resume, packed or plain subprotocols) or a Broker
// over Server-Sent Events, reconnects with backoff and jitter, resumes from
// the last ID it received, and tells the application when what it missed
// cannot be replayed (a resync):
//
//     import { subscribe } from "@fanout-go/client";
//     const sub = subscribe("wss://example.com/ws?topic=room");
//     sub.on("message", (m) => show(m.data, m.event, m.topic));
//     sub.on("resync", (reason) => reload());
//     // later: sub.close();

/**
 * SUBPROTOCOLS are the WebSocket subprotocols each mode offers, first
 * choice first: v2 carries each message's event type and topic, v1 is the
 * fallback for an older server. "plain" offers none (one message a frame).
 */
export const SUBPROTOCOLS = Object.freeze({
  resume: Object.freeze(["fanout.resume.v2", "fanout.resume.v1"]),
  packed: Object.freeze(["fanout.packed.v2", "fanout.packed.v1"]),
  plain: Object.freeze(/** @type {string[]} */ ([])),
});

/** POSITION_EVENT is the SSE event type of a new stream's position: its data is the ID to resume from. */
export const POSITION_EVENT = "fanout.position";
/** RESYNC_EVENT is the SSE event type of a resync: its data is "unknown", "unavailable" or "lost". */
export const RESYNC_EVENT = "fanout.resync";
/** CLOSE_EVENT is the SSE event type with which Subscriber.CloseWith ends a stream: its data is "code reason". */
export const CLOSE_EVENT = "fanout.close";

/**
 * fanoutRecords reads one binary frame of fanout's WebSocket subprotocols,
 * fanout.packed.v1/v2 and fanout.resume.v1/v2. A frame is a run of records,
 * each `kind (1 byte) | length (4 bytes, big endian) | payload`, returned in
 * order:
 * - a message (kind 1: data is a string; kind 2: a Uint8Array). The records
 *   before it give its id (kind 3, resume), event type (kind 6, v2) and
 *   topic (kind 7, v2), in that order; each is "" when it has none.
 * - `{resync}` (kind 4, resume and packed): what was missed cannot be
 *   replayed; the reason is "unknown", "unavailable" or "lost".
 * - `{position}` (kind 5, resume): first on a new connection, the ID to
 *   resume from if it drops before its first message.
 *
 * A malformed frame throws a RangeError, as fanout.UnpackRecords errs in Go.
 * @param {ArrayBuffer} frame
 * @returns {FrameRecord[]}
 */
export function fanoutRecords(frame) {
  const v = new DataView(frame), td = new TextDecoder("utf-8", { ignoreBOM: true });
  /** @type {Record<number, "id" | "event" | "topic">} */
  const names = { 3: "id", 6: "event", 7: "topic" }; // the records before a message
  /** @type {FrameRecord[]} */
  const out = [];
  let pre = { id: "", event: "", topic: "" }, last = 0; // the next message's records so far; the last one's kind
  for (let o = 0; o < v.byteLength; ) {
    if (v.byteLength - o < 5) throw new RangeError("fanout: truncated record header at " + o);
    const kind = v.getUint8(o), n = v.getUint32(o + 1);
    if (n > v.byteLength - o - 5) throw new RangeError("fanout: record overruns the frame at " + o);
    const p = new Uint8Array(frame, o + 5, n);
    if (names[kind]) {
      if (kind <= last || n === 0) throw new RangeError("fanout: bad " + names[kind] + " record at " + o);
      pre[names[kind]] = td.decode(p);
      last = kind;
    } else if (kind === 1 || kind === 2) {
      out.push({ data: kind === 1 ? td.decode(p) : p, binary: kind === 2, ...pre });
      pre = { id: "", event: "", topic: "" };
      last = 0;
    } else if (last) {
      throw new RangeError("fanout: " + names[last] + " record before one of kind " + kind + " at " + o);
    } else if (kind === 4) {
      out.push({ resync: td.decode(p) });
    } else if (kind === 5 && n > 0) {
      out.push({ position: td.decode(p) });
    } else {
      throw new RangeError("fanout: bad record of kind " + kind + " at " + o);
    }
    o += 5 + n;
  }
  if (last) throw new RangeError("fanout: " + names[last] + " record ends the frame");
  return out;
}

/** A position's ID (docs/protocol.md, section 5): epoch, partition (none for 0), offset. */
const POSITION = /^[0-9A-Za-z_]{1,32}(?::([1-9][0-9]{0,3}))?-(0|[1-9][0-9]{0,19})$/;

/**
 * positions reads id as a composite ID: one or more positions joined by
 * ".", in strictly increasing partition order. It returns them as
 * [partition, ID] pairs, or null for anything else (an opaque ID).
 * @param {string} id
 * @returns {[number, string][] | null}
 */
function positions(id) {
  /** @type {[number, string][]} */
  const out = [];
  for (const piece of id.split(".")) {
    const m = POSITION.exec(piece);
    if (!m || (m[2].length === 20 && BigInt(m[2]) > 0xffffffffffffffffn)) return null;
    const partition = m[1] ? Number(m[1]) : 0;
    if (out.length && out[out.length - 1][0] >= partition) return null;
    out.push([partition, piece]);
  }
  return out;
}

/**
 * Cursor is what a subscription resumes from: the last ID that is not made
 * of positions, kept as it came, or one position per partition (see
 * cursorAfter). Its id is the ID to send back, joined when it is read.
 */
class Cursor {
  /** @type {[number, string][] | null} the positions, in partition order; null for an opaque ID */
  #parts = null;
  #id = "";
  #joined = true; // #id is up to date

  /** The ID to resume from ("" for none). */
  get id() {
    if (!this.#joined && this.#parts) this.#id = this.#parts.map((e) => e[1]).join(".");
    this.#joined = true;
    return this.#id;
  }

  /**
   * set takes in an ID received (see cursorAfter).
   * @param {string} id
   * @param {boolean} whole
   */
  set(id, whole) {
    if (!id) return;
    const got = positions(id);
    if (!got || whole || !this.#parts?.length) {
      this.#parts = got;
      this.#id = id;
      this.#joined = true;
      return;
    }
    const parts = this.#parts;
    for (const e of got) {
      let i = parts.length;
      while (i > 0 && parts[i - 1][0] >= e[0]) i--;
      if (i < parts.length && parts[i][0] === e[0]) parts[i] = e;
      else parts.splice(i, 0, e);
    }
    this.#joined = false;
  }
}

/**
 * cursorAfter returns the ID to resume from once `id` was received, when
 * `cursor` was. A server whose engine has several partitions (the Redis
 * engine) numbers each on its own, and resumes a subscriber of several
 * from a composite ID: one position per partition, joined by ".", in
 * increasing partition order (docs/protocol.md, section 5). `whole` says
 * that `id` stands for the whole cursor, as a WebSocket position record's
 * and every SSE event's ID do: it replaces `cursor`. Otherwise (a
 * WebSocket message's ID, of its own partition) each position of `id`
 * replaces the one of its partition in `cursor`, and the others stay. An
 * ID that is not made of positions (a server without a store, or one that
 * sets its own with WithID) is kept as it came, and so replaces `cursor`,
 * as a position replaces an opaque `cursor`. "" changes nothing. A
 * Subscription keeps its lastEventId so.
 *
 *     cursorAfter("e-5.e:3-7", "e:3-8", false) // "e-5.e:3-8"
 *     cursorAfter("e-5.e:3-7", "e:2-1", false) // "e-5.e:2-1.e:3-7"
 *     cursorAfter("e-5.e:3-7", "f-0.f:3-2", true) // "f-0.f:3-2"
 * @param {string} cursor
 * @param {string} id
 * @param {boolean} whole
 * @returns {string}
 */
export function cursorAfter(cursor, id, whole) {
  const c = new Cursor();
  c.set(cursor, true);
  c.set(id, whole);
  return c.id;
}

/**
 * retryDelay returns how long to wait before reconnection attempt number
 * `attempt` (0 for the first after a connection that delivered a message or
 * lasted STABLE_AFTER was lost; each attempt that fails adds one): minDelay
 * doubled per attempt, at most maxDelay, less up to `jitter` of it at
 * random.
 * @param {number} attempt
 * @param {Backoff} [backoff]
 * @returns {number} milliseconds
 */
export function retryDelay(attempt, backoff = {}) {
  const { minDelay = 1000, maxDelay = 30000, jitter = 0.5, random = Math.random } = backoff;
  const d = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt, 40));
  return Math.round(d * (1 - Math.min(1, Math.max(0, jitter)) * random()));
}

/**
 * detach makes a connection's events do nothing. Its handlers are not
 * removed: the ws package throws an error event that no one handles.
 * @param {any} conn
 */
function detach(conn) {
  for (const h of ["onopen", "onmessage", "onerror", "onclose"]) conn[h] = () => {};
}

/** The close reason with which the Hub tells a plain WebSocket of a resync (code 1012). */
const PLAIN_RESYNC = /^fanout\.resync: (.+)$/;

/**
 * STABLE_AFTER is how long a connection must last, if it delivers no
 * message, to count as a success that starts the backoff over: one that
 * ends sooner with no message (a position or a resync is not one) counts
 * as a failed attempt, so a server that accepts each client and drops it
 * at once sees it come back no more often than one that refuses it. The Go
 * client (github.com/fanout-go/fanout/client) has the same rule.
 */
const STABLE_AFTER = 10_000;

/** A WebSocket close code that tells the client not to come back. */
const stays = (/** @type {number} */ code) => code === 1008 || (code >= 4000 && code <= 4999);

/**
 * subscribe opens a subscription to a Hub's or a Broker's URL.
 * @param {string | URL} url The Hub's (ws:, wss:) or the Broker's (http:,
 *   https:) URL, with the query its Authorize reads (?topic=...); relative
 *   to the page's location in a browser.
 * @param {Options} [options]
 * @returns {Subscription}
 */
export function subscribe(url, options) {
  return new Subscription(url, options);
}

/**
 * A Subscription receives a Hub's or a Broker's messages, across
 * reconnections, until close() or the server tells it to stop. Listeners
 * are called in order; one that throws does not stop the others (its error
 * is rethrown in a microtask, so it is reported as uncaught).
 */
export class Subscription {
  /** @type {URL} */ #url;
  /** @type {Options} */ #o;
  /** @type {"websocket" | "sse"} */ #transport;
  /** @type {readonly string[]} */ #protocols;
  /** @type {Set<string> | null} */ #events;
  /** @type {Map<string, Set<Function>>} */ #listeners = new Map();
  /** @type {"connecting" | "open" | "waiting" | "closed"} */ #state = "connecting";
  /** What it resumes from (see cursorAfter). */
  #cursor = new Cursor();
  #protocol = "";
  /** A plain connection's resync (see StatusResync), told once the next one opens. */
  #resync = "";
  /** @type {any} the WebSocket or EventSource in use */ #conn = null;
  /** @type {unknown} */ #timer = undefined;
  #attempt = 0; // failed attempts since the last healthy connection
  #openedAt = 0; // when the connection opened (performance.now)
  #delivered = false; // the connection delivered a message

  /**
   * @param {string | URL} url
   * @param {Options} [options]
   */
  constructor(url, options = {}) {
    const o = { ...options };
    o.setTimeout ??= (fn, ms) => globalThis.setTimeout(fn, ms);
    o.clearTimeout ??= (t) => globalThis.clearTimeout(t);
    this.#o = o;
    const u = new URL(url, /** @type {any} */ (globalThis).location?.href);
    const ws = u.protocol === "ws:" || u.protocol === "wss:";
    this.#transport = o.transport ?? (ws ? "websocket" : "sse");
    if (this.#transport !== "websocket" && this.#transport !== "sse") {
      throw new TypeError("fanout: transport must be \"websocket\" or \"sse\", not " + JSON.stringify(o.transport));
    }
    const secure = u.protocol === "https:" || u.protocol === "wss:";
    u.protocol = this.#transport === "websocket" ? (secure ? "wss:" : "ws:") : secure ? "https:" : "http:";
    const mode = o.mode ?? "resume";
    if (!Object.hasOwn(SUBPROTOCOLS, mode)) {
      throw new TypeError("fanout: mode must be \"resume\", \"packed\" or \"plain\", not " + JSON.stringify(mode));
    }
    this.#protocols = SUBPROTOCOLS[mode];
    this.#events = o.events ? new Set(o.events) : null;
    // Packed and plain WebSockets carry no IDs and do not resume.
    const resumes = this.#transport === "sse" || mode === "resume";
    if (resumes) this.#cursor.set(o.lastEventId ?? u.searchParams.get("lastEventId") ?? "", true);
    u.searchParams.delete("lastEventId"); // added to each connection as it resumes
    this.#url = u;
    this.#open(); // throws on a bad URL or a missing constructor
  }

  /** The transport: "websocket" or "sse". */
  get transport() {
    return this.#transport;
  }

  /**
   * The state: "connecting", "open", "waiting" (to reconnect) or "closed".
   * @returns {"connecting" | "open" | "waiting" | "closed"}
   */
  get state() {
    return this.#state;
  }

  /**
   * The ID the subscription resumes from: the last message's, or the
   * position the server gave a new connection. "" when it has none. Over
   * WebSocket, from a server whose engine has several partitions (the
   * Redis engine), it may be a composite: the last position of each
   * partition of the subscription's topics, joined by "." (see
   * cursorAfter). Keep it as an opaque string.
   */
  get lastEventId() {
    return this.#cursor.id;
  }

  /** The subprotocol the server selected on the last WebSocket ("" for none, and over SSE). */
  get protocol() {
    return this.#protocol;
  }

  /**
   * on adds a listener for one event of the subscription and returns a
   * function that removes it.
   * @template {keyof SubscriptionEvents} K
   * @param {K} type
   * @param {(arg: SubscriptionEvents[K]) => void} listener
   * @returns {() => void}
   */
  on(type, listener) {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    const fn = (/** @type {SubscriptionEvents[K]} */ arg) => listener(arg); // the same listener may be added twice
    set.add(fn);
    return () => void set.delete(fn);
  }

  /**
   * send sends data to the Hub on the open WebSocket (its OnMessage hook
   * receives it), and reports whether it could: false while reconnecting,
   * once closed, and over SSE.
   * @param {string | ArrayBufferLike | ArrayBufferView} data
   * @returns {boolean}
   */
  send(data) {
    if (this.#transport !== "websocket" || this.#state !== "open") return false;
    this.#conn.send(data);
    return true;
  }

  /**
   * close ends the subscription: its connection is closed, it does not
   * reconnect, and the close listeners are called (code 1000). Calling it
   * again does nothing.
   */
  close() {
    if (this.#state === "closed") return;
    this.#finish(1000, 0, "closed by the client");
  }

  // ---- internals ----

  /**
   * @template {keyof SubscriptionEvents} K
   * @param {K} type
   * @param {SubscriptionEvents[K]} arg
   */
  #emit(type, arg) {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(arg);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** #open opens a connection, resuming from the last ID. */
  #open() {
    this.#state = "connecting";
    if (this.#transport === "websocket") this.#openWebSocket();
    else this.#openEventSource();
  }

  /** #reconnect opens the next connection, once its delay is over. */
  #reconnect() {
    this.#timer = undefined;
    if (this.#state === "closed") return;
    try {
      this.#open();
    } catch (err) {
      this.#emit("error", /** @type {Error} */ (err));
      this.#retry({ code: 0, status: 0, reason: String(err), wasOpen: false });
    }
  }

  /**
   * #ended counts a connection that ended, or an attempt that failed: one
   * that opened and delivered a message, or lasted STABLE_AFTER, starts the
   * backoff over. Any other is a failed attempt, which #retry counts.
   * @param {boolean} wasOpen
   */
  #ended(wasOpen) {
    if (wasOpen && (this.#delivered || performance.now() - this.#openedAt >= STABLE_AFTER)) this.#attempt = 0;
  }

  /**
   * #retry waits, longer after each attempt that fails, then reconnects.
   * @param {Omit<DisconnectInfo, "delay">} info
   */
  #retry(info) {
    if (this.#state === "closed") return;
    this.#conn = null;
    const delay = retryDelay(this.#attempt++, this.#o);
    this.#state = "waiting";
    this.#timer = /** @type {NonNullable<Options["setTimeout"]>} */ (this.#o.setTimeout)(() => this.#reconnect(), delay);
    this.#emit("disconnect", { ...info, delay });
  }

  /**
   * #finish ends the subscription.
   * @param {number} code
   * @param {number} status
   * @param {string} reason
   */
  #finish(code, status, reason) {
    this.#state = "closed";
    if (this.#timer !== undefined) /** @type {NonNullable<Options["clearTimeout"]>} */ (this.#o.clearTimeout)(this.#timer);
    this.#timer = undefined;
    const conn = this.#conn;
    this.#conn = null;
    if (conn) {
      detach(conn);
      if (this.#transport === "websocket") conn.close(1000);
      else conn.close();
    }
    this.#emit("close", { code, status, reason });
  }

  /** #opened is a connection's open event. */
  #opened() {
    this.#openedAt = performance.now();
    this.#delivered = false;
    this.#state = "open";
    this.#emit("open", { protocol: this.#protocol, lastEventId: this.#cursor.id });
    const resync = this.#resync;
    this.#resync = "";
    if (resync) this.#emit("resync", resync);
  }

  /**
   * #deliver gives messages that arrived together to the listeners,
   * stopping if one of them closes the subscription.
   * @param {any} conn the connection they came on
   * @param {FrameRecord[]} records
   */
  #deliver(conn, records) {
    /** @type {Message[]} */
    const batch = [];
    for (const r of records) {
      if (this.#conn !== conn) return; // closed by a listener
      if ("position" in r) {
        this.#cursor.set(r.position, true);
      } else if ("resync" in r) {
        this.#emit("resync", r.resync);
      } else {
        this.#delivered = true;
        // Over WebSocket, a message's ID is its own partition's position;
        // over SSE, an event's ID is the whole cursor.
        this.#cursor.set(r.id, this.#transport === "sse");
        if (r.event && this.#events && !this.#events.has(r.event)) continue;
        batch.push(r);
        this.#emit("message", r);
      }
    }
    if (batch.length && this.#conn === conn) this.#emit("batch", batch);
  }

  #openWebSocket() {
    const WS = this.#o.WebSocket ?? /** @type {any} */ (globalThis).WebSocket;
    if (!WS) throw new TypeError("fanout: no WebSocket here: pass options.WebSocket (in Node.js 20, the ws package's)");
    const url = new URL(this.#url);
    if (this.#cursor.id) url.searchParams.set("lastEventId", this.#cursor.id); // a browser's WebSocket cannot set headers
    const ws = new WS(url.href, [...this.#protocols]);
    ws.binaryType = "arraybuffer";
    this.#conn = ws;
    let wasOpen = false;
    ws.onopen = () => {
      wasOpen = true;
      this.#protocol = ws.protocol;
      this.#opened();
    };
    ws.onmessage = (/** @type {{data: string | ArrayBuffer}} */ e) => {
      const data = e.data;
      if (!ws.protocol) {
        // No subprotocol (plain, or a server that selected none): one message a frame.
        const binary = typeof data !== "string";
        const m = { data: binary ? new Uint8Array(data) : data, binary, id: "", event: "", topic: "" };
        this.#deliver(ws, [m]);
        return;
      }
      let records;
      try {
        if (typeof data === "string") throw new RangeError("fanout: a text frame in " + ws.protocol);
        records = fanoutRecords(data);
      } catch (err) {
        // Reconnect from the last message read: nothing is lost.
        detach(ws);
        ws.close(4000, "malformed frame");
        this.#emit("error", /** @type {Error} */ (err));
        this.#ended(wasOpen);
        this.#retry({ code: 4000, status: 0, reason: /** @type {Error} */ (err).message, wasOpen });
        return;
      }
      this.#deliver(ws, records);
    };
    ws.onerror = () => {}; // a close event follows
    ws.onclose = (/** @type {{code: number, reason: string}} */ e) => {
      if (this.#conn !== ws) return;
      if (stays(e.code)) {
        this.#conn = null;
        this.#finish(e.code, 0, e.reason);
      } else {
        // A plain connection cannot carry a resync: the Hub closes it with
        // 1012 (StatusResync) and "fanout.resync: " and the reason.
        const resync = PLAIN_RESYNC.exec(ws.protocol ? "" : e.reason);
        if (e.code === 1012 && resync) this.#resync = resync[1];
        this.#ended(wasOpen);
        this.#retry({ code: e.code, status: 0, reason: e.reason, wasOpen });
      }
    };
  }

  // Over SSE, the EventSource reconnects by itself after the Broker's
  // Retry, sending the last ID it recorded as Last-Event-ID: that is the
  // first attempt after a loss. When it gives up (a status other than 200:
  // 503 while the server shuts down, say), or when its own attempt fails
  // too (the stream it opens ends before a message and before
  // STABLE_AFTER, or does not open), it is closed and a new one is opened
  // after the backoff's delay, with ?lastEventId=: the last message's ID,
  // or the fanout.position event's (which an EventSource that records no
  // ID of its own does not lose). Left to itself, an EventSource would
  // come back every Retry for ever to a server that drops it at once.
  #openEventSource() {
    const ES = this.#o.EventSource ?? /** @type {any} */ (globalThis).EventSource;
    if (!ES) throw new TypeError("fanout: no EventSource here: pass options.EventSource (in Node.js, the eventsource package's)");
    const url = new URL(this.#url);
    if (this.#cursor.id) url.searchParams.set("lastEventId", this.#cursor.id);
    const es = new ES(url.href, this.#o.eventSourceInit);
    this.#conn = es;
    this.#protocol = "";
    let wasOpen = false;
    es.onopen = () => {
      wasOpen = true;
      this.#opened();
    };
    es.onerror = (/** @type {{code?: unknown, message?: unknown}} */ e) => {
      if (this.#conn !== es) return;
      const status = typeof e.code === "number" ? e.code : 0; // the eventsource package's
      const reason = typeof e.message === "string" ? e.message : "";
      const info = { code: 0, status, reason, wasOpen };
      this.#ended(wasOpen);
      wasOpen = false;
      if (es.readyState !== 2 && this.#attempt === 0) {
        // CONNECTING, after a healthy stream (or none yet): the
        // EventSource reconnects by itself, and that is an attempt.
        this.#attempt++;
        this.#state = "connecting";
        this.#emit("disconnect", { ...info, delay: -1 });
        return;
      }
      es.close();
      if (status === 204) {
        this.#conn = null;
        this.#finish(0, 204, reason || "204 No Content");
      } else {
        this.#retry(info);
      }
    };
    const listen = (/** @type {string} */ type, /** @type {(e: any) => void} */ fn) =>
      es.addEventListener(type, (/** @type {any} */ e) => {
        if (this.#conn === es) fn(e);
      });
    // A browser's event has the stream's last ID, whether or not it had an
    // id field (the eventsource package's, its own): an event's own ID is
    // its lastEventId where that changed.
    let lastSeen = "";
    const ownId = (/** @type {{lastEventId?: string}} */ e) => {
      const id = e.lastEventId ?? "";
      const own = id !== lastSeen ? id : "";
      lastSeen = id;
      return own;
    };
    const message = (/** @type {{type: string, data: string, lastEventId: string}} */ e) => {
      const id = ownId(e);
      this.#cursor.set(id, true);
      const event = e.type === "message" ? "" : e.type;
      this.#deliver(es, [{ data: e.data, binary: false, id, event, topic: "" }]);
    };
    listen("message", message);
    for (const type of this.#events ?? []) if (type !== "message") listen(type, message);
    listen(POSITION_EVENT, (e) => {
      ownId(e);
      this.#cursor.set(e.data || e.lastEventId, true);
    });
    listen(RESYNC_EVENT, (e) => {
      ownId(e);
      this.#emit("resync", e.data);
    });
    listen(CLOSE_EVENT, (e) => {
      // Subscriber.CloseWith: "code reason", and the stream ends. A code
      // that says stop (as on a WebSocket: 1008, 4000 to 4999), or none
      // that can be read, stops the client before the EventSource
      // reconnects; any other is an end of stream like the rest.
      const [, code = "0", reason = ""] = /^(\d*) ?([\s\S]*)$/.exec(e.data) ?? [];
      const c = Number(code) || 0;
      if (c < 1000 || c > 4999 || stays(c)) this.#finish(c, 0, reason);
    });
  }
}

// ---- types ----

/**
 * A message, as fanoutRecords and a Subscription give it.
 * @typedef {object} Message
 * @property {string | Uint8Array} data The payload: a string for a text
 *   message, bytes for a binary one. Over SSE always a string (the Broker
 *   sends binary messages base64-encoded).
 * @property {boolean} binary Whether data is bytes.
 * @property {string} id Its ID ("" without one: packed and plain modes, a
 *   server without a store). Over WebSocket, the position of its own
 *   partition; over SSE, for a subscriber of several partitions, the
 *   composite of all of them (the event's id field). See cursorAfter.
 * @property {string} event Its event type (what the server's WithEvent
 *   set), or "" (and "" in the v1 subprotocols).
 * @property {string} topic The topic it was published to, or "" (a
 *   broadcast; SSE and the v1 subprotocols do not carry it).
 */

/**
 * A record of a frame: a message, a resync or a position.
 * @typedef {Message | {resync: string} | {position: string}} FrameRecord
 */

/**
 * How long to wait before reconnecting.
 * @typedef {object} Backoff
 * @property {number} [minDelay] The delay before the first attempt after a
 *   connection is lost, in milliseconds; each failed attempt doubles it. A
 *   connection that ends before it delivered a message and before it
 *   lasted 10 s is a failed attempt too (a position or a resync is not a
 *   message): a server that accepts each client and drops it at once sees
 *   it no more often than one that refuses it. On defaults, that is at
 *   most 6 attempts in the first 30 s, then one every 15 to 30 s. Over
 *   SSE, the EventSource's own reconnection (after the Broker's Retry)
 *   stands for the first attempt. Defaults to 1000.
 * @property {number} [maxDelay] The longest delay. Defaults to 30000.
 * @property {number} [jitter] The fraction of each delay taken off at
 *   random (0 to 1), so that clients dropped together come back spread out.
 *   Defaults to 0.5: a delay d becomes one between d/2 and d.
 * @property {() => number} [random] A number in [0, 1). Defaults to
 *   Math.random (tests make it predictable).
 */

/**
 * Options of subscribe. Every field is optional.
 * @typedef {Backoff & {
 *   transport?: "websocket" | "sse",
 *   mode?: "resume" | "packed" | "plain",
 *   lastEventId?: string,
 *   events?: string[],
 *   WebSocket?: WebSocketConstructor,
 *   EventSource?: EventSourceConstructor,
 *   eventSourceInit?: object,
 *   setTimeout?: (fn: () => void, ms: number) => unknown,
 *   clearTimeout?: (timer: any) => void,
 * }} Options
 * - transport: "websocket" (a Hub) or "sse" (a Broker). Defaults to
 *   "websocket" for a ws: or wss: URL, else "sse". The URL's scheme is
 *   changed to match (http: and ws:, https: and wss:).
 * - mode: the WebSocket's subprotocols (see SUBPROTOCOLS). "resume" (the
 *   default) resumes from the last ID; "packed" (the Hub needs Packing) and
 *   "plain" carry no IDs, so a reconnection starts from live messages.
 * - lastEventId: the ID to resume from on the first connection. Defaults to
 *   the URL's lastEventId parameter, or none (a new subscriber).
 * - events: event types to receive besides messages without one.
 *   EventSource dispatches a named event only to a listener of its name, so
 *   over SSE only these arrive; over WebSocket every message arrives unless
 *   events is given, and then the same ones as over SSE.
 * - WebSocket, EventSource: the constructors. Default to the global ones
 *   (in Node.js 20, which has neither, pass the ws and eventsource
 *   packages' ones).
 * - eventSourceInit: the EventSource constructor's second argument
 *   ({withCredentials: true}, or the eventsource package's {fetch}).
 * - setTimeout, clearTimeout: the timers the reconnections wait on.
 *   Default to the global ones (tests replace them).
 */

/**
 * The constructor of a WebSocket: the browser's, or the ws package's.
 * @typedef {new (url: string, protocols?: string | string[]) => any} WebSocketConstructor
 */

/**
 * The constructor of an EventSource: the browser's, or the eventsource
 * package's.
 * @typedef {new (url: string, init?: any) => any} EventSourceConstructor
 */

/**
 * A connection opened.
 * @typedef {object} OpenInfo
 * @property {string} protocol The subprotocol the server selected ("" for
 *   none, and over SSE).
 * @property {string} lastEventId The ID it resumes from ("" for a new
 *   subscriber). An EventSource that reconnects by itself sends its own
 *   record of it, which is the same.
 */

/**
 * A connection was lost, and will be reopened.
 * @typedef {object} DisconnectInfo
 * @property {number} code The WebSocket close code (1006: lost without a
 *   close frame, or never opened); 0 over SSE.
 * @property {number} status The HTTP status that refused an EventSource,
 *   where the EventSource tells it (the eventsource package does, browsers
 *   do not); else 0.
 * @property {string} reason The close frame's reason, or what the
 *   EventSource said.
 * @property {boolean} wasOpen Whether the connection had opened.
 * @property {number} delay Milliseconds until the subscription reconnects,
 *   or -1 when the EventSource reconnects by itself (after the Broker's
 *   Retry: the first attempt after a loss).
 */

/**
 * The subscription ended for good.
 * @typedef {object} CloseInfo
 * @property {number} code The WebSocket close code, or the code of a
 *   fanout.close event, that made it stop; 1000 after close().
 * @property {number} status 204 when an EventSource was refused with 204 No
 *   Content (where the EventSource tells it); else 0.
 * @property {string} reason Why.
 */

/**
 * What each event of a Subscription gives its listeners.
 * @typedef {object} SubscriptionEvents
 * @property {Message} message A message.
 * @property {Message[]} batch The messages that arrived together (one
 *   WebSocket frame; over SSE, one message), after each was given to the
 *   message listeners: to repaint once per batch.
 * @property {string} resync What was missed cannot be replayed ("unknown",
 *   "unavailable" or "lost"): reload the state, then go on with the messages
 *   that follow. In plain mode, the Hub closes the connection instead (1012,
 *   reason "fanout.resync: lost"): the resync comes once it has reopened.
 * @property {OpenInfo} open A connection opened.
 * @property {DisconnectInfo} disconnect A connection was lost.
 * @property {CloseInfo} close The subscription ended: the server told it to
 *   stay away (WebSocket close codes 1008 and 4000 to 4999, a fanout.close
 *   event with one of them, 204 No Content), or close() was called.
 * @property {Error} error A malformed frame (the connection is reopened),
 *   or a reconnection that threw.
 */
