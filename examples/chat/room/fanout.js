// fanoutRecords reads one binary frame of fanout's WebSocket subprotocols,
// fanout.packed.v1/v2 and fanout.resume.v1/v2 (set ws.binaryType =
// "arraybuffer"). A frame is a run of records, each
//   kind (1 byte) | length (4 bytes, big endian) | payload
// and fanoutRecords returns them in order, as objects:
//   {data, id, event, topic}  a message (kind 1: data is a string; kind 2:
//               a Uint8Array). Records before it give its id (kind 3,
//               resume), event type (kind 6, v2) and topic (kind 7, v2),
//               in that order; each is "" when it has none.
//   {resync}    kind 4 (resume): what was missed cannot be replayed;
//               the reason is "unknown" or "unavailable".
//   {position}  kind 5 (resume): first on a new connection, the ID to
//               resume from if it drops before its first message.
// A malformed frame throws a RangeError, as fanout.UnpackRecords errs in Go.
function fanoutRecords(frame) {
  const v = new DataView(frame), td = new TextDecoder("utf-8", { ignoreBOM: true });
  const names = { 3: "id", 6: "event", 7: "topic" }; // the records before a message
  const out = [];
  let pre = {}, last = 0; // the next message's id, event and topic so far; the last one's kind
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
      const data = kind === 1 ? td.decode(p) : p;
      out.push({ data, id: pre.id || "", event: pre.event || "", topic: pre.topic || "" });
      pre = {};
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
