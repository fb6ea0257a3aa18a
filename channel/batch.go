package channel

import (
	"encoding/binary"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// Batches: several postings in one stack packet.
//
// A stream's stack packet normally holds one encoded posting. When the
// pusher is ahead of the stream — its stack is backlogged
// (stack.Stack.Backlogged: a window with packets queued for room, or in
// ack mode a sixteenth of its window or more unacknowledged) — a
// plain reliable posting is not given to the stack at once: it is
// appended to the stream's open batch, one stack packet holding several
// postings, which goes down whole when it is full (what fits one datagram
// without fragmenting), when the stack's backlog has drained (checked by
// the pusher after each append and by feedback after each acknowledgement
// it passes up), after batchWait on the channel's clock at the latest, and
// before anything else is sent on the stream (a posting that cannot join,
// a flush, close, retirement). A posting given to a stack with no backlog
// goes alone at once, as it always did. A batch puts one stack call, one
// window slot and one acknowledgement's worth of bookkeeping per
// datagram-full instead of per posting. A batch that goes down full while
// the backlog lasts is written by the outbox's writer goroutine, not by
// the pusher, so the batches made while one write is in progress leave
// together in the next (one sendmmsg or GSO call). When the backlog is a queue, the
// postings of a batch would have waited there anyway; when it is a
// flight (a sender streaming), a posting may wait until its batch fills,
// the flight drops under a sixteenth of the window, or batchWait passes:
// behind a flight that long, which it follows anyway.
//
// Only postings with nothing a relay reads per posting join a batch: a
// reliable, untimed stream, no time to live (so no deadline), no
// latest-wins key, frame id or frame end. The batch packet's relay
// metadata is then the plain reliable one of each of them (its media
// class, not droppable).
//
// The format of a batch packet's payload (what a receiving stack hands
// up in place of one posting's encoding):
//
//	byte 0    batchMarker (0xBA); a posting's encoding starts with its
//	          version (1 or 2), so the two are never mistaken
//	then one or more entries, to the end of the payload:
//	  2 bytes the entry's length L, little-endian, 1 to 65535
//	  L bytes one posting's encoding (posting.AppendBinary)
//
// A batch with no entry, an entry of length 0 or one running past the end
// is malformed: the whole packet is dropped and counted "bad-batch"; an
// entry that does not decode is dropped alone and counted "bad-posting".
// Each posting keeps its own Seq and Sent, and is counted, held for a
// reconfigured stream and delivered on its own, in order.

// batchMarker is the first byte of a batch packet.
const batchMarker = 0xBA

// batchEntryHeader is the length of an entry's length field.
const batchEntryHeader = 2

// batchWait is the longest a posting waits in an open batch: its backlog
// normally drains (and the batch goes) sooner.
const batchWait = time.Millisecond

// splitBatch calls f with each posting encoding of the batch packet b
// (starting with batchMarker), in order, after checking the whole
// structure; it reports false, calling f for none, when b is malformed.
func splitBatch(b []byte, f func(entry []byte)) bool {
	n := countBatch(b)
	if n == 0 {
		return false
	}
	b = b[1:]
	for len(b) > 0 {
		l := int(binary.LittleEndian.Uint16(b))
		f(b[batchEntryHeader : batchEntryHeader+l])
		b = b[batchEntryHeader+l:]
	}
	return true
}

// countBatch returns the number of entries of the batch packet b, or 0 when
// it is malformed.
func countBatch(b []byte) int {
	if len(b) == 0 || b[0] != batchMarker {
		return 0
	}
	b = b[1:]
	n := 0
	for len(b) > 0 {
		if len(b) < batchEntryHeader {
			return 0
		}
		l := int(binary.LittleEndian.Uint16(b))
		if l == 0 || len(b) < batchEntryHeader+l {
			return 0
		}
		b = b[batchEntryHeader+l:]
		n++
	}
	return n
}

// isBatch says whether a packet handed up holds a batch rather than one
// posting.
func isBatch(b []byte) bool { return len(b) > 0 && b[0] == batchMarker }

// batchable says whether q (a posting about to be sent on os, Seq and Sent
// set) may join a batch: nothing about it is for relays to read per
// posting, and its encoding is small.
func (os *outStream) batchable(q *posting.Posting) bool {
	return os.reliable && !os.timed && q.TTL == 0 && q.Key == "" && q.Frame == 0 && !q.FrameEnd &&
		sizeHint(q) <= os.batchBudget()/2
}

// batchBudget is the largest batch packet os sends: what its stack sends
// in one packet without cutting it (the MTU, or the path's when smaller,
// less the layers' overhead), at most what entry lengths can say.
func (os *outStream) batchBudget() int {
	mtu := os.st.MTU()
	if l := os.og.mtuLimit.Load(); l > 0 && int(l) < mtu {
		mtu = int(l)
	}
	return min(mtu-os.st.Overhead(), 1<<16-1)
}

// addToBatch appends q, encoded, to os's open batch (opening one), with os.mu
// held. ok false says q did not join (too large for a batch after all):
// send it alone. err is q's own error (it was not sent). n is the
// length of q's encoding; sent says a batch went down to the stack (the
// caller flushes the outbox once it has released os.mu).
func (og *outgoing) addToBatch(os *outStream, q *posting.Posting, now time.Time) (n int, ok, sent bool, err error) {
	budget := os.batchBudget()
	if os.batch != nil && os.batchMedia != q.Media {
		og.sendBatch(os, now, true)
		sent = true
	}
	if os.batch == nil {
		os.batch = os.st.NewPacket(budget)
		os.batch.Extend(1)[0] = batchMarker
		os.batchMedia = q.Media
	}
	b := os.batch
	start := b.Len()
	b.Extend(batchEntryHeader)
	if err := b.AppendWith(q.AppendBinary); err != nil {
		og.unbatch(os, start)
		return 0, false, sent, err
	}
	n = b.Len() - start - batchEntryHeader
	if limit := os.bodyLimit(og.cfg.maxPosting); int64(n) > limit {
		if body := bodySize(q, n); body > limit {
			og.unbatch(os, start)
			return 0, false, sent, og.tooLarge(os, body)
		}
	}
	if b.Len() > budget {
		if os.batchN == 0 || 1+batchEntryHeader+n > budget {
			og.unbatch(os, start)
			return 0, false, sent, nil // alone, then
		}
		// Over the budget: the open batch goes without q, and q opens the
		// next one.
		nb := os.st.NewPacket(budget)
		nb.Extend(1)[0] = batchMarker
		nb.Append(b.Bytes()[start:])
		b.Truncate(start)
		og.sendBatch(os, now, true)
		sent = true
		os.batch, os.batchMedia = nb, q.Media
		b, start = nb, 1
	}
	binary.LittleEndian.PutUint16(b.Bytes()[start:], uint16(n))
	os.batchN++
	if os.batchN == 1 {
		if os.batchTimer == nil {
			os.batchTimer = og.clock.AfterFunc(batchWait, os.batchDue)
		} else {
			os.batchTimer.Reset(batchWait)
		}
	}
	// Set before looking at the backlog, which feedback sets before
	// looking at this: one of the two sees the other's.
	os.batchOpen.Store(true)
	if budget-b.Len() < batchEntryHeader+n || !os.st.Backlogged() {
		// Full (the next posting, if like this one, would not fit), or
		// the stack's backlog is gone.
		og.sendBatch(os, now, true)
		sent = true
	}
	return n, true, sent, nil
}

// unbatch takes back the entry being added at start to os's open batch,
// closing the batch when it was its first.
func (og *outgoing) unbatch(os *outStream, start int) {
	if os.batchN == 0 {
		os.batch.Release()
		os.batch = nil
		return
	}
	os.batch.Truncate(start)
}

// sendBatch gives os's open batch, if any, to its stack, with os.mu held.
// direct says the caller flushes the outbox once it has released os.mu
// (a push); otherwise the stack's flush hook wakes the writer.
func (og *outgoing) sendBatch(os *outStream, now time.Time, direct bool) {
	pk := os.batch
	if pk == nil {
		return
	}
	os.batch, os.batchN = nil, 0
	os.batchOpen.Store(false)
	pk.Meta.Media = os.batchMedia
	if direct {
		og.out.direct.Add(1)
	}
	if err := os.st.DownAt(pk, now); err != nil {
		og.cnt.drop("batch-refused") // its postings were counted sent
	}
	if direct {
		og.out.direct.Add(-1)
	}
}

// batchDrained sends os's open batch when its stack's backlog has drained:
// called after an acknowledgement went up the stack (which may have let
// the backlog out).
func (og *outgoing) batchDrained(os *outStream) {
	if !os.batchOpen.Load() || os.st.Backlogged() {
		return
	}
	os.mu.Lock()
	if os.batch != nil && !os.st.Backlogged() {
		og.sendBatch(os, og.clock.Now(), false)
	}
	os.mu.Unlock()
}

// batchDue is os's batch timer: the open batch has waited batchWait.
func (os *outStream) batchDue() { os.og.flushBatch(os) }

// flushBatch sends os's open batch now, if any (Flush, Close, retirement).
func (og *outgoing) flushBatch(os *outStream) {
	os.mu.Lock()
	og.flushBatchLocked(os)
	os.mu.Unlock()
}

// flushBatchLocked is flushBatch with os.mu held.
func (og *outgoing) flushBatchLocked(os *outStream) {
	if os.batch != nil {
		og.sendBatch(os, og.clock.Now(), false)
	}
}

// dropBatch releases os's open batch unsent and stops its timer, for a
// stream whose stack is closing.
func (og *outgoing) dropBatch(os *outStream) {
	os.mu.Lock()
	if os.batch != nil {
		n := uint64(os.batchN)
		os.batch.Release()
		os.batch, os.batchN = nil, 0
		os.batchOpen.Store(false)
		og.cnt.dropN("batch-closed", n)
	}
	if os.batchTimer != nil {
		os.batchTimer.Stop()
	}
	os.mu.Unlock()
}
