package encrypt

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rwanda-go/rwanda/internal/keyphase"
	"github.com/rwanda-go/rwanda/internal/replay"
	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/stack"
)

const (
	version  = 0x10
	dirData  = 0
	dirFeed  = 1
	tagLen   = 16
	fixedLen = 2 + 8 // version|dir, key id, instance
	// HeaderMax is the longest header: fixed part, originator, counter.
	HeaderMax = fixedLen + 8 + binary.MaxVarintLen64
	// Overhead is the most bytes the layer adds to a packet.
	Overhead = HeaderMax + tagLen
)

// Config configures a layer.
type Config struct {
	// Suite is the AEAD; zero: the first of [Suites].
	Suite Suite
	// Keys is the ring the layer derives its keys from. Required.
	Keys *keys.Ring
	// Channel is the channel's identity, the same on every member (the
	// HKDF salt).
	Channel string
	// Replay is the replay window, in packets (default 1024).
	Replay int
	// Peers bounds the originators' keys and windows a stack keeps
	// (default 256); the least recently used is evicted.
	Peers int
}

// ErrNoKeys is returned when the layer is built without a key ring.
var ErrNoKeys = errors.New("encrypt: the channel has no key: open it with channel.WithKey or channel.WithKeyRing")

// Layer is the encrypt layer. Make one with [New].
type Layer struct {
	b        stack.Binding
	cfg      Config
	instance uint64
	lim      keyphase.Limits // AEAD usage limits (keyupdate.go)

	owner    uint64 // the flow's sender
	stream   uint32
	txDir    byte
	txKeyID  int // -1: none derived yet
	txGen    uint64
	txAEAD   cipher.AEAD
	txPhase  uint64 // txAEAD's key phase
	txEnd    uint64 // the first counter after it
	counter  uint64
	nonce    [24]byte
	hdr      [HeaderMax]byte // scratch: a header passed to the AEAD would escape
	rx       map[rxKey]*rxState
	useClock uint64
}

type rxKey struct {
	dir        byte
	keyID      uint8
	originator uint64
	instance   uint64
}

type rxState struct {
	keys    keyphase.Keys
	window  replay.Window
	lastUse uint64
}

// New returns a layer for one stack.
func New(cfg Config) (*Layer, error) {
	if cfg.Keys == nil {
		return nil, ErrNoKeys
	}
	if cfg.Suite.New == nil {
		cfg.Suite = Suites[0]
	}
	if cfg.Replay == 0 {
		cfg.Replay = 1024
	}
	if cfg.Replay < 64 || cfg.Replay > 1<<16 {
		return nil, fmt.Errorf("encrypt: replay window %d is out of range 64..65536", cfg.Replay)
	}
	if cfg.Peers == 0 {
		cfg.Peers = 256
	}
	if cfg.Peers < 1 || cfg.Peers > 1<<16 {
		return nil, fmt.Errorf("encrypt: peers %d is out of range 1..65536", cfg.Peers)
	}
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("encrypt: instance: %w", err)
		}
		if binary.BigEndian.Uint64(b[:]) != 0 {
			break
		}
	}
	return &Layer{cfg: cfg, instance: binary.BigEndian.Uint64(b[:]), lim: limitsFor(cfg.Suite), txKeyID: -1, rx: make(map[rxKey]*rxState)}, nil
}

// Name is "encrypt".
func (l *Layer) Name() string { return "encrypt" }

// Overhead is the longest header plus the tag.
func (l *Layer) Overhead() int { return Overhead }

// Capabilities declares confidentiality and authentication.
func (l *Layer) Capabilities() stack.Capabilities {
	return stack.Capabilities{Provides: []stack.Capability{stack.CapConfidential, stack.CapAuthenticated}}
}

// Bind records the flow the layer protects.
func (l *Layer) Bind(b stack.Binding) error {
	l.b = b
	l.stream = b.Flow.ID
	if b.Flow.Role == stack.Sender {
		l.owner, l.txDir = b.Flow.Local, dirData
	} else {
		l.owner, l.txDir = b.Flow.Remote, dirFeed
	}
	return nil
}

// info is the HKDF info for a key: what it is for, who seals with it and,
// after phase 0, its key phase.
func (l *Layer) info(dir byte, originator, instance, phase uint64) []byte {
	b := make([]byte, 0, 72)
	if phase == 0 {
		b = append(b, "rwanda/encrypt/v1/"...)
	} else {
		b = append(b, updateInfo...)
	}
	b = append(b, l.cfg.Suite.Name...)
	b = append(b, 0, dir)
	b = binary.BigEndian.AppendUint64(b, l.owner)
	b = binary.BigEndian.AppendUint32(b, l.stream)
	b = binary.BigEndian.AppendUint64(b, originator)
	b = binary.BigEndian.AppendUint64(b, instance)
	if phase != 0 {
		b = binary.BigEndian.AppendUint64(b, phase)
	}
	return b
}

func (l *Layer) derive(keyID uint8, dir byte, originator, instance, phase uint64) (cipher.AEAD, error) {
	k, err := l.cfg.Keys.Derive(keyID, []byte(l.cfg.Channel), l.info(dir, originator, instance, phase), l.cfg.Suite.KeyLen)
	if err != nil {
		return nil, err
	}
	a, err := l.cfg.Suite.New(k)
	clear(k)
	return a, err
}

func (l *Layer) nonceFor(c uint64) []byte {
	n := l.nonce[:l.cfg.Suite.nonceSz]
	clear(n)
	binary.BigEndian.PutUint64(n[len(n)-8:], c)
	return n
}

// Down seals p.
func (l *Layer) Down(p *stack.Packet) error {
	ring := l.cfg.Keys
	// A changed ring (rotation; a key replaced under its id) means deriving
	// again; the same key derives the same AEAD key, and the counter goes on.
	// So does a new key phase (keyupdate.go).
	if id := ring.Current(); int(id) != l.txKeyID || ring.Generation() != l.txGen || l.counter+1 >= l.txEnd {
		if err := l.sealKey(id, ring.Generation()); err != nil {
			l.b.Drop(p, "no-key")
			return err
		}
	}
	l.counter++
	h := append(l.hdr[:0], version|l.txDir, byte(l.txKeyID))
	if l.txDir == dirFeed {
		h = binary.BigEndian.AppendUint64(h, l.b.Flow.Local)
	}
	h = binary.BigEndian.AppendUint64(h, l.instance)
	h = binary.AppendUvarint(h, l.counter)
	nonce := l.nonceFor(l.counter)

	if p.Shared() {
		// Another layer keeps p (for retransmission): seal into a new packet.
		q := l.b.NewPacket(len(h) + p.Len() + tagLen)
		q.Meta = p.Meta
		q.Append(h)
		pt := p.Bytes()
		ext := q.Extend(len(pt) + tagLen)
		l.txAEAD.Seal(ext[:0], nonce, pt, h)
		p.Release()
		return l.b.Down.Handle(q)
	}
	n := p.Len()
	copy(p.Push(len(h)), h)
	p.Extend(tagLen)
	b := p.Bytes()
	pt := b[len(h) : len(h)+n]
	l.txAEAD.Seal(pt[:0], nonce, pt, b[:len(h)])
	return l.b.Down.Handle(p)
}

// Up opens p, or drops it.
func (l *Layer) Up(p *stack.Packet) error {
	if p.Meta.Flags&stack.FlagSkip != 0 {
		return l.b.Up.Handle(p)
	}
	b := p.Bytes()
	if len(b) < fixedLen+1+tagLen || b[0]&0xf0 != version || b[0]&0x0e != 0 {
		l.b.Drop(p, "malformed")
		return nil
	}
	dir, keyID := b[0]&1, b[1]
	off := 2
	originator := l.owner
	if dir == dirFeed {
		originator = binary.BigEndian.Uint64(b[off:])
		off += 8
		if len(b) < off+8+1+tagLen {
			l.b.Drop(p, "malformed")
			return nil
		}
		if originator == 0 || p.Meta.Peer != 0 && p.Meta.Peer != originator {
			l.b.Drop(p, "spoofed")
			return nil
		}
	}
	// Data reaches receivers; feedback reaches the sender and, overheard,
	// other receivers.
	if dir == dirData && l.b.Flow.Role == stack.Sender {
		l.b.Drop(p, "direction")
		return nil
	}
	instance := binary.BigEndian.Uint64(b[off:])
	off += 8
	counter, n := binary.Uvarint(b[off:])
	if n <= 0 || counter == 0 {
		l.b.Drop(p, "malformed")
		return nil
	}
	off += n
	if len(b)-off < tagLen {
		l.b.Drop(p, "malformed")
		return nil
	}
	key := rxKey{dir, keyID, originator, instance}
	st := l.rx[key]
	ring := l.cfg.Keys
	if st != nil && !st.window.Fresh(counter) {
		l.b.Drop(p, "replayed")
		return nil
	}
	// The key of the counter's phase, derived at the ring's generation: a
	// changed ring (the key may be gone or replaced) derives again, and
	// keeps the replay window.
	gen, phase := ring.Generation(), l.lim.Phase(counter)
	var k *keyphase.Slot
	if st != nil {
		k = st.keys.Get(gen, phase)
	}
	var aead cipher.AEAD
	if k != nil {
		aead = k.AEAD
	} else {
		if !ring.Has(keyID) {
			l.b.Drop(p, "unknown-key")
			return nil
		}
		a, err := l.derive(keyID, dir, originator, instance, phase)
		if err != nil {
			l.b.Drop(p, "unknown-key")
			return nil
		}
		aead = a
		if st != nil { // kept before the tag is checked, to count forgeries
			k = st.keys.Put(aead, gen, phase)
		}
	}
	if k != nil && k.Forged >= l.lim.Forgeries {
		l.b.Drop(p, "key-exhausted")
		return nil
	}
	p = p.Writable()
	b = p.Bytes()
	ct := b[off:]
	if _, err := aead.Open(ct[:0], l.nonceFor(counter), ct, b[:off]); err != nil {
		if k != nil {
			k.Forged++
		}
		l.b.Drop(p, "forged")
		return nil
	}
	if st == nil {
		st = &rxState{window: replay.New(l.cfg.Replay)}
		st.keys.Put(aead, gen, phase)
		if len(l.rx) >= l.cfg.Peers {
			l.evict()
		}
		l.rx[key] = st
	}
	if st.keys.Authenticated(phase) {
		l.b.Count("key-updates-received", 1)
	}
	l.useClock++
	st.lastUse = l.useClock
	st.window.Mark(counter)
	p.Consume(off)
	p.Trim(tagLen)
	return l.b.Up.Handle(p)
}

// sealKey makes the sending key the one of the next counter's phase under
// key id, at the ring's generation gen.
func (l *Layer) sealKey(id uint8, gen uint64) error {
	phase := l.lim.Phase(l.counter + 1)
	a, err := l.derive(id, l.txDir, l.b.Flow.Local, l.instance, phase)
	if err != nil {
		return fmt.Errorf("encrypt: key %d: %w", id, err)
	}
	if l.txAEAD != nil && phase > l.txPhase {
		l.b.Count("key-updates-sent", 1)
	}
	l.txKeyID, l.txAEAD, l.txGen, l.txPhase, l.txEnd = int(id), a, gen, phase, l.lim.End(phase)
	return nil
}

func (l *Layer) evict() {
	var oldest rxKey
	var min uint64 = ^uint64(0)
	for k, s := range l.rx {
		if s.lastUse < min {
			oldest, min = k, s.lastUse
		}
	}
	delete(l.rx, oldest)
	l.b.Count("evicted", 1)
}

// Close forgets the keys.
func (l *Layer) Close() error {
	l.txAEAD = nil
	clear(l.rx)
	return nil
}
