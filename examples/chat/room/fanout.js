// fanoutRecords reads one binary frame of fanout's WebSocket subprotocols,
// fanout.packed.v1 and fanout.resume.v1 (set ws.binaryType = "arraybuffer").
// A frame is a run of records, each
//   kind (1 byte) | length (4 bytes, big endian) | payload
// and fanoutRecords returns them in order, as objects:
//   {data, id}  a message (kind 1: data is a string; kind 2: a Uint8Array).
//               id is its ID (resume: kind 3 comes before it), or "".
//   {resync}    kind 4 (resume): what was missed cannot be replayed;
//               the reason is "unknown" or "unavailable".
//   {position}  kind 5 (resume): first on a new connection, the ID to
//               resume from if it drops before its first message.
// A malformed frame throws a RangeError, as fanout.UnpackRecords errs in Go.
function fanoutRecords(frame) {
  const v = new DataView(frame), td = new TextDecoder();
  const out = [];
  let id = "";
  for (let o = 0; o < v.byteLength; ) {
    if (v.byteLength - o < 5) throw new RangeError("fanout: truncated record header at " + o);
    const kind = v.getUint8(o), n = v.getUint32(o + 1);
    if (n > v.byteLength - o - 5) throw new RangeError("fanout: record overruns the frame at " + o);
    const p = new Uint8Array(frame, o + 5, n);
    if (kind === 3) {
      if (id !== "" || n === 0) throw new RangeError("fanout: bad ID record at " + o);
      id = td.decode(p);
    } else if (kind === 1 || kind === 2) {
      out.push({ data: kind === 1 ? td.decode(p) : p, id });
      id = "";
    } else if (kind === 4) {
      out.push({ resync: td.decode(p) });
      id = "";
    } else if (kind === 5) {
      if (id !== "" || n === 0) throw new RangeError("fanout: bad position record at " + o);
      out.push({ position: td.decode(p) });
    } else {
      throw new RangeError("fanout: unknown record kind " + kind + " at " + o);
    }
    o += 5 + n;
  }
  if (id !== "") throw new RangeError("fanout: an ID record ends the frame");
  return out;
}
