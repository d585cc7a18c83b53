// What the gateway reads of gRPC's wire format: the model name in field 1 wherever it sits in the message, message
// boundaries across chunk splits, the size limit from the length prefix; and the status codes it maps.
import { GrpcCode, MessageScanner, encodeGrpcMessage, frameMessage, grpcCodeOfHttp, outcomeOfGrpc, readStringField, stringField, varintField } from '../../gateway/grpc-wire.js';

const bytes = (...parts: (number[] | Buffer)[]) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const name = stringField(1, 'resnet-50');

describe('readStringField', () => {
  test.each([
    ['first', bytes(name, stringField(3, 'id-1'))],
    ['after a string field', bytes(stringField(3, 'id-1'), name)],
    ['after a varint field of several bytes', bytes(varintField(4, 300), name)],
    ['after a 64-bit field', bytes([0x29, 1, 2, 3, 4, 5, 6, 7, 8], name)],
    ['after a 32-bit field', bytes([0x2d, 1, 2, 3, 4], name)],
    ['after a field with a two-byte tag', bytes(stringField(20, 'x'.repeat(200)), name)],
  ])('finds the string in field 1 %s', (_where, message) => {
    expect(readStringField(message, 1)).toEqual({ value: 'resnet-50' });
  });

  test('reads UTF-8 and the empty string', () => {
    expect(readStringField(stringField(1, 'modèle'), 1)).toEqual({ value: 'modèle' });
    expect(readStringField(Buffer.from([0x0a, 0x00]), 1)).toEqual({ value: '' });
  });

  test('a message without field 1 has it absent; one cut short asks for more bytes', () => {
    expect(readStringField(bytes(stringField(2, '1')), 1)).toEqual({ absent: true });
    expect(readStringField(Buffer.alloc(0), 1)).toEqual({ absent: true });
    expect(readStringField(name.subarray(0, 5), 1)).toEqual({ truncated: true });
    expect(readStringField(Buffer.from([0x0a]), 1)).toEqual({ truncated: true });
    expect(readStringField(Buffer.from([0x29, 1, 2]), 1)).toEqual({ truncated: true });
    expect(readStringField(Buffer.from([0x20, 0x80]), 1)).toEqual({ truncated: true });
  });

  test('field 1 of another wire type, or a group, is malformed', () => {
    expect(readStringField(varintField(1, 7), 1)).toEqual({ malformed: "field 1 has wire type 0, not a string's (2)" });
    expect(readStringField(Buffer.from([0x1b]), 1)).toEqual({ malformed: 'field 3 has wire type 3, which these messages do not use' });
  });
});

describe('MessageScanner', () => {
  const messages = [frameMessage(bytes(name, Buffer.alloc(40, 7))), frameMessage(Buffer.alloc(0)), frameMessage(Buffer.alloc(10, 1))];
  const stream = Buffer.concat(messages);

  test.each([1, 2, 3, 7, stream.length])('follows messages split into chunks of %i bytes and keeps the first', (size) => {
    const sc = new MessageScanner(1000);
    for (let i = 0; i < stream.length; i += size) expect(sc.scan(stream.subarray(i, i + size))).toBeUndefined();
    expect(sc.messages).toBe(3);
    expect(sc.atBoundary).toBe(true);
    expect(sc.firstComplete).toBe(true);
    expect(sc.first()).toEqual(messages[0].subarray(5));
    expect(sc.firstCompressed).toBe(false);
  });

  test('the first message is readable before it is whole', () => {
    const sc = new MessageScanner(1000);
    sc.scan(messages[0].subarray(0, 9));
    expect(sc.firstComplete).toBe(false);
    expect(sc.atBoundary).toBe(false);
    expect(readStringField(sc.first(), 1)).toEqual({ truncated: true });
    sc.scan(messages[0].subarray(9, 20));
    expect(readStringField(sc.first(), 1)).toEqual({ value: 'resnet-50' });
  });

  test('a message over the limit is told by its length prefix, before its bytes', () => {
    const sc = new MessageScanner(60);
    expect(sc.scan(messages[0])).toBeUndefined();
    const big = frameMessage(Buffer.alloc(61));
    expect(sc.scan(big.subarray(0, 5))).toBe(61);
  });
});

test.each([
  [401, GrpcCode.UNAUTHENTICATED], [403, GrpcCode.PERMISSION_DENIED], [404, GrpcCode.NOT_FOUND], [413, GrpcCode.RESOURCE_EXHAUSTED],
  [429, GrpcCode.RESOURCE_EXHAUSTED], [503, GrpcCode.UNAVAILABLE], [400, GrpcCode.INVALID_ARGUMENT], [504, GrpcCode.DEADLINE_EXCEEDED],
  [500, GrpcCode.INTERNAL], [418, GrpcCode.UNKNOWN],
])('HTTP %i is gRPC status %i', (http, code) => {
  expect(grpcCodeOfHttp(http)).toBe(code);
});

test.each([
  [GrpcCode.OK, 'success'], [GrpcCode.UNAVAILABLE, 'rejected'], [GrpcCode.NOT_FOUND, 'client_error'], [GrpcCode.CANCELLED, 'client_error'],
  [GrpcCode.RESOURCE_EXHAUSTED, 'client_error'], [GrpcCode.INTERNAL, 'failed'], [GrpcCode.DEADLINE_EXCEEDED, 'failed'],
])('a call ended with status %i counts as %s', (code, outcome) => {
  expect(outcomeOfGrpc(code)).toBe(outcome);
});

test('grpc-message is percent-encoded as gRPC specifies', () => {
  expect(encodeGrpcMessage('model "x" 100% gone: é\n')).toBe('model "x" 100%25 gone: %C3%A9%0A');
});
