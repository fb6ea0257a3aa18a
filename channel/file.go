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
// goroutine, then follows what is pushed afterwards; realtime replay spaces
// postings by their send times on the channel's clock. Replay waits for a
// slow subscriber rather than dropping. A torn last record (a crash while
// writing) is cut off when the file is opened. Each posting carries its own
// wire version: recordings made before wire v2 hold version 1 postings,
// which still decode (testdata/v1.rw is one); new records are version 2.
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
	r.c.wg.Go(func() { r.feed(s) })
}

func (r *recorder) feed(s *Subscription) {
	off := int64(len(recMagic))
	var buf []byte
	var t0, w0 time.Time
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
			n, err := readRecord(br, &buf)
			if err != nil {
				r.c.cnt.drop("bad-record")
				r.c.log.Warn("unreadable record; replay stops", "path", r.path, "offset", off, "err", err)
				return
			}
			off += n
			p, _ := posting.Decode(buf)
			if r.mode == ReplayRealtime {
				if t0.IsZero() {
					t0, w0 = p.Sent, r.c.clock.Now()
				} else if !r.wait(s, w0.Add(p.Sent.Sub(t0))) {
					return
				}
			}
			if !s.matches(p) {
				continue
			}
			r.c.cnt.recvd.postings.Add(1)
			if !s.push(p) {
				return
			}
		}
	}
}

// wait blocks until the clock reaches t; false when s or the channel ends
// first.
func (r *recorder) wait(s *Subscription, t time.Time) bool {
	d := t.Sub(r.c.clock.Now())
	if d <= 0 {
		return true
	}
	ready := make(chan struct{})
	tm := r.c.clock.AfterFunc(d, func() { close(ready) })
	defer tm.Stop()
	select {
	case <-ready:
		return true
	case <-s.done:
		return false
	case <-r.c.ctx.Done():
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
