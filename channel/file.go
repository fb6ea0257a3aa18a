package channel

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/internal/varint"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// The file:// channel records postings and replays them: the "local
// storage" delivery of DMIF. The file is a header followed by records, each
// a uvarint length and a posting in its wire encoding with every header
// field (stream, sender, sequence, send time):
//
//	"RWANDA-REC1\n" record*
//	record := uvarint(len) posting
//
// Each subscription replays the recording from the start, in its own
// goroutine, then follows what is pushed afterwards. Realtime replay
// schedules the recording from its own clock: a posting is due at the
// subscription's start plus its send time less the first posting's, read
// on the channel's clock (WithClock), so a replay that falls behind (a
// busy machine, a slow subscriber) delivers what is overdue at once and
// is back on schedule with the next posting; delays never accumulate.
// Only the recording as it stood when the subscription began is paced;
// what is pushed after that is live and delivered at once. Replay waits
// for a slow subscriber rather than dropping. A torn last record (a crash
// while writing) is cut off when the file is opened. Each posting carries
// its own wire version: recordings made before wire v2 hold version 1
// postings, which still decode (testdata/v1.rw is one); new records are
// version 2.
var recMagic = []byte("RWANDA-REC1\n")

const maxRecord = 64 << 20

type recorder struct {
	c    *Channel
	path string
	mode ReplayMode

	mu     sync.Mutex
	f      *os.File
	size   int64 // end of the last whole record
	grew   chan struct{}
	closed bool
	seq    map[string]uint64
	buf    []byte
}

func openRecorder(c *Channel, a *Address) (*recorder, error) {
	f, err := os.OpenFile(a.Path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	r := &recorder{c: c, path: a.Path, mode: a.Replay, f: f, grew: make(chan struct{}), seq: make(map[string]uint64)}
	end, err := r.scan()
	if err != nil {
		f.Close()
		return nil, err
	}
	r.size = end
	return r, nil
}

// scan checks the header (writing it into an empty file) and finds the end
// of the last whole record, cutting off a torn tail.
func (r *recorder) scan() (int64, error) {
	st, err := r.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("channel: %w", err)
	}
	if st.Size() == 0 {
		if _, err := r.f.Write(recMagic); err != nil {
			return 0, fmt.Errorf("channel: %w", err)
		}
		return int64(len(recMagic)), nil
	}
	br := bufio.NewReader(io.NewSectionReader(r.f, 0, st.Size()))
	head := make([]byte, len(recMagic))
	if _, err := io.ReadFull(br, head); err != nil || !bytes.Equal(head, recMagic) {
		return 0, fmt.Errorf("channel: %s is not a rwanda recording", r.path)
	}
	end := int64(len(recMagic))
	for {
		n, err := readRecord(br, nil)
		if err != nil {
			break
		}
		end += n
	}
	if end < st.Size() {
		r.c.log.Warn("recording has a torn tail; cutting it off", "path", r.path, "bytes", st.Size()-end)
		if err := r.f.Truncate(end); err != nil {
			return 0, fmt.Errorf("channel: %w", err)
		}
	}
	return end, nil
}

// readRecord reads one record; it returns the bytes it took and the
// posting's encoding in buf (reused).
func readRecord(br *bufio.Reader, buf *[]byte) (int64, error) {
	l, err := binary.ReadUvarint(br)
	if err != nil {
		return 0, err
	}
	if l == 0 || l > maxRecord {
		return 0, errors.New("bad record length")
	}
	var b []byte
	if buf != nil && uint64(cap(*buf)) >= l {
		b = (*buf)[:l]
	} else {
		b = make([]byte, l)
	}
	if _, err := io.ReadFull(br, b); err != nil {
		return 0, err
	}
	if buf != nil {
		*buf = b
	}
	if _, err := posting.Decode(b); err != nil {
		return 0, err
	}
	return int64(varint.Len(l)) + int64(l), nil
}

func (r *recorder) push(p *posting.Posting) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.seq[p.Stream]++
	p.Sender, p.Seq, p.Sent = r.c.id, r.seq[p.Stream], r.c.clock.Now()
	enc, err := p.AppendBinary(r.buf[:0])
	if err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	if len(enc) > maxRecord {
		return fmt.Errorf("channel: posting of %d bytes is larger than a record may be (%d)", len(enc), maxRecord)
	}
	rec := binary.AppendUvarint(make([]byte, 0, len(enc)+10), uint64(len(enc)))
	rec = append(rec, enc...)
	r.buf = enc[:0]
	if _, err := r.f.WriteAt(rec, r.size); err != nil {
		return fmt.Errorf("channel: recording: %w", err)
	}
	r.size += int64(len(rec))
	r.c.cnt.sent.postings.Add(1)
	r.c.cnt.sent.bytes.Add(uint64(len(rec)))
	close(r.grew)
	r.grew = make(chan struct{})
	return nil
}

// replay starts a goroutine that feeds s the recording and what follows.
func (r *recorder) replay(s *Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	recorded := r.size // what is paced in realtime: the rest is live
	r.c.wg.Go(func() { r.feed(s, recorded) })
}

// feed replays the file to s from the start and then follows it. In
// realtime mode the records before recorded are paced (see pacer).
func (r *recorder) feed(s *Subscription, recorded int64) {
	off := int64(len(recMagic))
	var buf []byte
	var pace *pacer
	if r.mode == ReplayRealtime {
		pace = &pacer{clock: r.c.clock}
	}
	for {
		r.mu.Lock()
		size, grew, closed := r.size, r.grew, r.closed
		r.mu.Unlock()
		if closed {
			return
		}
		if off >= size {
			select {
			case <-grew:
				continue
			case <-s.done:
				return
			case <-r.c.ctx.Done():
				return
			}
		}
		br := bufio.NewReaderSize(io.NewSectionReader(r.f, off, size-off), 64<<10)
		for off < size {
			at := off
			n, err := readRecord(br, &buf)
			if err != nil {
				r.c.cnt.drop("bad-record")
				r.c.log.Warn("unreadable record; replay stops", "path", r.path, "offset", off, "err", err)
				return
			}
			off += n
			p, _ := posting.Decode(buf)
			paced := pace != nil && at < recorded
			if paced {
				pace.first(p.Sent) // the recording's clock starts at its first posting, matched or not
			}
			if !s.matches(p) {
				continue
			}
			if paced && !pace.wait(p.Sent, s.done, r.c.ctx.Done()) {
				return
			}
			r.c.cnt.recvd.postings.Add(1)
			if !s.push(p) {
				return
			}
		}
	}
}

// pacer schedules a realtime replay from the recording's clock: a
// posting sent at t is due at start + (t - t0), where t0 is the first
// recorded send time and start the replay's first reading of the clock.
// Each due time is computed afresh from those two, never from when the
// previous posting went out, so lateness does not carry over.
type pacer struct {
	clock     stack.Clock
	started   bool
	t0, start time.Time
}

// first notes the recording's first send time (only the first call counts).
func (pc *pacer) first(sent time.Time) {
	if !pc.started {
		pc.started, pc.t0, pc.start = true, sent, pc.clock.Now()
	}
}

// wait blocks until the posting sent at sent is due; false when done or
// stop closes first. An overdue posting does not wait.
func (pc *pacer) wait(sent time.Time, done, stop <-chan struct{}) bool {
	d := pc.start.Add(sent.Sub(pc.t0)).Sub(pc.clock.Now())
	if d <= 0 {
		return true
	}
	ready := make(chan struct{})
	tm := pc.clock.AfterFunc(d, func() { close(ready) })
	defer tm.Stop()
	select {
	case <-ready:
		return true
	case <-done:
		return false
	case <-stop:
		return false
	}
}

// close stops pushes and replays; closeFile, once the replays have
// returned, closes the file.
func (r *recorder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.grew)
}

func (r *recorder) closeFile() error { return r.f.Close() }
