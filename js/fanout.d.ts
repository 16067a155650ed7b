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
export function fanoutRecords(frame: ArrayBuffer): FrameRecord[];
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
export function cursorAfter(cursor: string, id: string, whole: boolean): string;
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
export function retryDelay(attempt: number, backoff?: Backoff): number;
/**
 * subscribe opens a subscription to a Hub's or a Broker's URL.
 * @param {string | URL} url The Hub's (ws:, wss:) or the Broker's (http:,
 *   https:) URL, with the query its Authorize reads (?topic=...); relative
 *   to the page's location in a browser.
 * @param {Options} [options]
 * @returns {Subscription}
 */
export function subscribe(url: string | URL, options?: Options): Subscription;
/**
 * SUBPROTOCOLS are the WebSocket subprotocols each mode offers, first
 * choice first: v2 carries each message's event type and topic, v1 is the
 * fallback for an older server. "plain" offers none (one message a frame).
 */
export const SUBPROTOCOLS: Readonly<{
    resume: readonly string[];
    packed: readonly string[];
    plain: readonly string[];
}>;
/** POSITION_EVENT is the SSE event type of a new stream's position: its data is the ID to resume from. */
export const POSITION_EVENT: "fanout.position";
/** RESYNC_EVENT is the SSE event type of a resync: its data is "unknown", "unavailable" or "lost". */
export const RESYNC_EVENT: "fanout.resync";
/** CLOSE_EVENT is the SSE event type with which Subscriber.CloseWith ends a stream: its data is "code reason". */
export const CLOSE_EVENT: "fanout.close";
/**
 * A Subscription receives a Hub's or a Broker's messages, across
 * reconnections, until close() or the server tells it to stop. Listeners
 * are called in order; one that throws does not stop the others (its error
 * is rethrown in a microtask, so it is reported as uncaught).
 */
export class Subscription {
    /**
     * @param {string | URL} url
     * @param {Options} [options]
     */
    constructor(url: string | URL, options?: Options);
    /** The transport: "websocket" or "sse". */
    get transport(): "websocket" | "sse";
    /**
     * The state: "connecting", "open", "waiting" (to reconnect) or "closed".
     * @returns {"connecting" | "open" | "waiting" | "closed"}
     */
    get state(): "connecting" | "open" | "waiting" | "closed";
    /**
     * The ID the subscription resumes from: the last message's, or the
     * position the server gave a new connection. "" when it has none. Over
     * WebSocket, from a server whose engine has several partitions (the
     * Redis engine), it may be a composite: the last position of each
     * partition of the subscription's topics, joined by "." (see
     * cursorAfter). Keep it as an opaque string.
     */
    get lastEventId(): string;
    /** The subprotocol the server selected on the last WebSocket ("" for none, and over SSE). */
    get protocol(): string;
    /**
     * on adds a listener for one event of the subscription and returns a
     * function that removes it.
     * @template {keyof SubscriptionEvents} K
     * @param {K} type
     * @param {(arg: SubscriptionEvents[K]) => void} listener
     * @returns {() => void}
     */
    on<K extends keyof SubscriptionEvents>(type: K, listener: (arg: SubscriptionEvents[K]) => void): () => void;
    /**
     * send sends data to the Hub on the open WebSocket (its OnMessage hook
     * receives it), and reports whether it could: false while reconnecting,
     * once closed, and over SSE.
     * @param {string | ArrayBufferLike | ArrayBufferView} data
     * @returns {boolean}
     */
    send(data: string | ArrayBufferLike | ArrayBufferView): boolean;
    /**
     * close ends the subscription: its connection is closed, it does not
     * reconnect, and the close listeners are called (code 1000). Calling it
     * again does nothing.
     */
    close(): void;
    #private;
}
/**
 * A message, as fanoutRecords and a Subscription give it.
 */
export type Message = {
    /**
     * The payload: a string for a text
     * message, bytes for a binary one. Over SSE always a string (the Broker
     * sends binary messages base64-encoded).
     */
    data: string | Uint8Array;
    /**
     * Whether data is bytes.
     */
    binary: boolean;
    /**
     * Its ID ("" without one: packed and plain modes, a
     * server without a store). Over WebSocket, the position of its own
     * partition; over SSE, for a subscriber of several partitions, the
     * composite of all of them (the event's id field). See cursorAfter.
     */
    id: string;
    /**
     * Its event type (what the server's WithEvent
     * set), or "" (and "" in the v1 subprotocols).
     */
    event: string;
    /**
     * The topic it was published to, or "" (a
     * broadcast; SSE and the v1 subprotocols do not carry it).
     */
    topic: string;
};
/**
 * A record of a frame: a message, a resync or a position.
 */
export type FrameRecord = Message | {
    resync: string;
} | {
    position: string;
};
/**
 * How long to wait before reconnecting.
 */
export type Backoff = {
    /**
     * The delay before the first attempt after a
     * connection is lost, in milliseconds; each failed attempt doubles it. A
     * connection that ends before it delivered a message and before it
     * lasted 10 s is a failed attempt too (a position or a resync is not a
     * message): a server that accepts each client and drops it at once sees
     * it no more often than one that refuses it. On defaults, that is at
     * most 6 attempts in the first 30 s, then one every 15 to 30 s. Over
     * SSE, the EventSource's own reconnection (after the Broker's Retry)
     * stands for the first attempt. Defaults to 1000.
     */
    minDelay?: number | undefined;
    /**
     * The longest delay. Defaults to 30000.
     */
    maxDelay?: number | undefined;
    /**
     * The fraction of each delay taken off at
     * random (0 to 1), so that clients dropped together come back spread out.
     * Defaults to 0.5: a delay d becomes one between d/2 and d.
     */
    jitter?: number | undefined;
    /**
     * A number in [0, 1). Defaults to
     * Math.random (tests make it predictable).
     */
    random?: (() => number) | undefined;
};
/**
 * - transport: "websocket" (a Hub) or "sse" (a Broker). Defaults to
 * "websocket" for a ws: or wss: URL, else "sse". The URL's scheme is
 * changed to match (http: and ws:, https: and wss:).
 * - mode: the WebSocket's subprotocols (see SUBPROTOCOLS). "resume" (the
 * default) resumes from the last ID; "packed" (the Hub needs Packing) and
 * "plain" carry no IDs, so a reconnection starts from live messages.
 * - lastEventId: the ID to resume from on the first connection. Defaults to
 * the URL's lastEventId parameter, or none (a new subscriber).
 * - events: event types to receive besides messages without one.
 * EventSource dispatches a named event only to a listener of its name, so
 * over SSE only these arrive; over WebSocket every message arrives unless
 * events is given, and then the same ones as over SSE.
 * - WebSocket, EventSource: the constructors. Default to the global ones
 * (in Node.js 20, which has neither, pass the ws and eventsource
 * packages' ones).
 * - eventSourceInit: the EventSource constructor's second argument
 * ({withCredentials: true}, or the eventsource package's {fetch}).
 * - setTimeout, clearTimeout: the timers the reconnections wait on.
 * Default to the global ones (tests replace them).
 */
export type Options = Backoff & {
    transport?: "websocket" | "sse";
    mode?: "resume" | "packed" | "plain";
    lastEventId?: string;
    events?: string[];
    WebSocket?: WebSocketConstructor;
    EventSource?: EventSourceConstructor;
    eventSourceInit?: object;
    setTimeout?: (fn: () => void, ms: number) => unknown;
    clearTimeout?: (timer: any) => void;
};
/**
 * The constructor of a WebSocket: the browser's, or the ws package's.
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => any;
/**
 * The constructor of an EventSource: the browser's, or the eventsource
 * package's.
 */
export type EventSourceConstructor = new (url: string, init?: any) => any;
/**
 * A connection opened.
 */
export type OpenInfo = {
    /**
     * The subprotocol the server selected ("" for
     * none, and over SSE).
     */
    protocol: string;
    /**
     * The ID it resumes from ("" for a new
     * subscriber). An EventSource that reconnects by itself sends its own
     * record of it, which is the same.
     */
    lastEventId: string;
};
/**
 * A connection was lost, and will be reopened.
 */
export type DisconnectInfo = {
    /**
     * The WebSocket close code (1006: lost without a
     * close frame, or never opened); 0 over SSE.
     */
    code: number;
    /**
     * The HTTP status that refused an EventSource,
     * where the EventSource tells it (the eventsource package does, browsers
     * do not); else 0.
     */
    status: number;
    /**
     * The close frame's reason, or what the
     * EventSource said.
     */
    reason: string;
    /**
     * Whether the connection had opened.
     */
    wasOpen: boolean;
    /**
     * Milliseconds until the subscription reconnects,
     * or -1 when the EventSource reconnects by itself (after the Broker's
     * Retry: the first attempt after a loss).
     */
    delay: number;
};
/**
 * The subscription ended for good.
 */
export type CloseInfo = {
    /**
     * The WebSocket close code, or the code of a
     * fanout.close event, that made it stop; 1000 after close().
     */
    code: number;
    /**
     * 204 when an EventSource was refused with 204 No
     * Content (where the EventSource tells it); else 0.
     */
    status: number;
    /**
     * Why.
     */
    reason: string;
};
/**
 * What each event of a Subscription gives its listeners.
 */
export type SubscriptionEvents = {
    /**
     * A message.
     */
    message: Message;
    /**
     * The messages that arrived together (one
     * WebSocket frame; over SSE, one message), after each was given to the
     * message listeners: to repaint once per batch.
     */
    batch: Message[];
    /**
     * What was missed cannot be replayed ("unknown",
     * "unavailable" or "lost"): reload the state, then go on with the messages
     * that follow. In plain mode, the Hub closes the connection instead (1012,
     * reason "fanout.resync: lost"): the resync comes once it has reopened.
     */
    resync: string;
    /**
     * A connection opened.
     */
    open: OpenInfo;
    /**
     * A connection was lost.
     */
    disconnect: DisconnectInfo;
    /**
     * The subscription ended: the server told it to
     * stay away (WebSocket close codes 1008 and 4000 to 4999, a fanout.close
     * event with one of them, 204 No Content), or close() was called.
     */
    close: CloseInfo;
    /**
     * A malformed frame (the connection is reopened),
     * or a reconnection that threw.
     */
    error: Error;
};
