/** Builders for PostgreSQL backend messages, for tests: fixtures are built, not hex dumps. */

function message(code: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1); // length includes itself but not the code
  return Buffer.concat([head, body]);
}

export const pg = {
  dataRow(fields: Array<string | Buffer | null>): Buffer {
    const parts: Buffer[] = [];
    const count = Buffer.alloc(2);
    count.writeInt16BE(fields.length);
    parts.push(count);
    for (const f of fields) {
      const len = Buffer.alloc(4);
      if (f === null) {
        len.writeInt32BE(-1);
        parts.push(len);
      } else {
        const v = typeof f === 'string' ? Buffer.from(f) : f;
        len.writeInt32BE(v.length);
        parts.push(len, v);
      }
    }
    return message('D', Buffer.concat(parts));
  },
  commandComplete(tag: string): Buffer {
    return message('C', Buffer.from(`${tag}\0`));
  },
  readyForQuery(status: 'I' | 'T' | 'E' = 'I'): Buffer {
    return message('Z', Buffer.from(status));
  },
  /** Reads the fields of a DataRow back. */
  fields(row: Buffer): Array<string | null> {
    const n = row.readInt16BE(5);
    const out: Array<string | null> = [];
    let pos = 7;
    for (let i = 0; i < n; i++) {
      const len = row.readInt32BE(pos);
      pos += 4;
      if (len < 0) {
        out.push(null);
      } else {
        out.push(row.subarray(pos, pos + len).toString());
        pos += len;
      }
    }
    return out;
  },
};
