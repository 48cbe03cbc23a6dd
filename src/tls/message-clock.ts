/**
 * The complete-message clock of one stream (issue 12), like an HTTP server's header timeout:
 * a message must arrive whole within a limit of its first byte. The caller reports, after each
 * chunk, how many bytes its framer still holds; the clock runs while that is non-zero and
 * restarts when a chunk completed a message and began another. Pure: time is passed in.
 */
export class MessageClock {
  private held = 0;
  private since: number | undefined;

  /** After a chunk of chunkBytes was framed, heldBytes remain waiting for the rest of a message. */
  note(chunkBytes: number, heldBytes: number, now: number): void {
    const completed = this.held + chunkBytes > heldBytes;
    if (heldBytes === 0) this.since = undefined;
    else if (this.since === undefined || completed) this.since = now;
    this.held = heldBytes;
  }

  /** Milliseconds the current partial message has been waiting (0 when none). */
  waiting(now: number): number {
    return this.since === undefined ? 0 : now - this.since;
  }
}
