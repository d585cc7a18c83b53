// Closing an HTTP listener without cutting an answer or leaving a connection open.
//
// node's http.Server.close() (and closeIdleConnections) destroys every connection it takes for idle, and that
// includes one whose answer has been ended (res.end) but is still being written to a slow reader: the answer is
// cut. It also leaves a connection that has not sent a request open for as long as its client keeps it. The
// ledger closes a connection once every answer on it has been written out, and gives a connection that has not
// begun its first request a grace period to send it (it is answered, then closed).
import { Server as NetServer, type Socket } from 'node:net';
import type { Server } from 'node:http';

/** Long enough for a request already sent to be read; short enough that a connection opened ahead and left unused does not hold a shutdown. */
export const FIRST_REQUEST_GRACE_MS = 1000;

interface ConnectionUse {
  /** Requests begun on the connection. */
  requests: number;
  /** Requests begun and not yet answered (or abandoned). */
  unanswered: number;
}

export interface ListenerClosing {
  /** Settles when the listener has stopped and every connection has ended. */
  closed: Promise<void>;
  /** As `closed`, but at `deadline` (ms since the epoch) what is still open is cut. */
  within(deadline: number): Promise<void>;
  /** Connections that were idle between requests and were closed at once. */
  idleClosed: number;
  /** Connections accepted that had not yet begun their first request: they have the grace period to send it. */
  awaitingFirstRequest: number;
}

export class ConnectionLedger {
  private readonly uses = new Map<Socket, ConnectionUse>();
  private closing = false;

  constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      this.uses.set(socket, { requests: 0, unanswered: 0 });
      socket.once('close', () => this.uses.delete(socket));
    });
    server.on('request', (req, res) => {
      const use = this.uses.get(req.socket);
      if (!use) return;
      use.requests++;
      use.unanswered++;
      res.once('close', () => {
        use.unanswered--;
        // Once the listener has closed, a connection does not wait for another request.
        if (this.closing && use.unanswered === 0) req.socket.destroy();
      });
    });
  }

  /**
   * Stops accepting connections and closes the idle ones. A connection inside a request closes once its answer
   * has been written out; one that has not begun its first request has `firstRequestGraceMs` to begin it.
   */
  closeListener(firstRequestGraceMs = FIRST_REQUEST_GRACE_MS): ListenerClosing {
    this.closing = true;
    // net.Server's close, not http.Server's: the latter would also destroy connections awaiting their first request.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(this.server, () => resolve()));
    const idleClosed = this.closeIdle();
    const awaiting = [...this.uses].filter(([, use]) => use.requests === 0).map(([socket]) => socket);
    if (awaiting.length > 0) {
      setTimeout(() => {
        for (const socket of awaiting) if (this.uses.get(socket)?.requests === 0) socket.destroy();
      }, firstRequestGraceMs).unref();
    }
    const within = async (deadline: number) => {
      const cut = setTimeout(() => this.server.closeAllConnections(), Math.max(0, deadline - Date.now()));
      await closed;
      clearTimeout(cut);
    };
    return { closed, within, idleClosed, awaitingFirstRequest: awaiting.length };
  }

  /** Closes the connections that answered every request they began and wait for another; returns how many. */
  closeIdle(): number {
    let n = 0;
    for (const [socket, use] of this.uses) {
      if (use.requests > 0 && use.unanswered === 0) {
        socket.destroy();
        n++;
      }
    }
    return n;
  }

  /** Connections open now. */
  get size(): number {
    return this.uses.size;
  }
}
